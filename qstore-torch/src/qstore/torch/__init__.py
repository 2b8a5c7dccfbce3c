"""Q-Store for PyTorch: quantum layers and a batched torch statevector engine."""
