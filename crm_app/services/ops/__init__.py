"""Operations: the worker's jobs, service and store status, and the demo."""
