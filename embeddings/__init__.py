"""Sentence embeddings of transcript passages and of queries, run locally through ONNX Runtime."""
