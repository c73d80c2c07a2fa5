"""The monitoring job: judges each model's recent traffic against the reference of the version that served it."""
