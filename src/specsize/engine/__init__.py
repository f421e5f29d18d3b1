"""specsize's engine: PyTorch implementations of the dense and DeepSeek-V3 architectures with static caches,
a loader and saver for Hugging Face checkpoints (FP8 block-scaled included). The optional extra
`specsize[engine]`; the planner never imports it."""
