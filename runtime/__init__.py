"""snnc.runtime — fused multi-step neuron kernels for the GPU (Triton, and CUDA generated through CuPy)."""
