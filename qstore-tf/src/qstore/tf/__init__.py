"""Q-Store for TensorFlow and Keras 3: quantum layers and a TensorFlow statevector engine."""
