"""Request bodies into inputs: JSON and Triton binary tensors, large ones off the loop."""
