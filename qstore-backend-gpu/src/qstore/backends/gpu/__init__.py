"""Q-Store GPU backends: qsim and PennyLane Lightning statevector engines."""
