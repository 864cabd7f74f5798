EXPECTED_FAILURES = {"test_resize_downsample_scales_cubic": "op Resize is not supported"}
