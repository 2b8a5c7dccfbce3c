"""Q-Store storage drivers: zarr checkpoints, parquet metrics and faiss vectors."""
