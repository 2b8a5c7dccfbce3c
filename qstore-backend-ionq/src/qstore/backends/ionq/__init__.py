"""Q-Store IonQ backends: the IonQ simulator and QPUs through qiskit-ionq."""
