"""C templates of the CPU backend: contraction (GEMM / implicit-GEMM convolution) for now."""
