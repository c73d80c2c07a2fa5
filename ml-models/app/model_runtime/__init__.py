"""The shared layer of the model services. Importing it loads neither torch nor MLflow."""
