"""`aotc bench`: aotc against peers, each in its own process, rounds interleaved, medians."""
