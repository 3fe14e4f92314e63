"""dermafuse model factory, fine-tuning step: ONNX backbone -> PyTorch -> fine-tune -> ONNX."""
