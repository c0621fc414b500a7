"""The kernels that serve models: catalog, one bridge per kernel, replicas, frames, transports."""
