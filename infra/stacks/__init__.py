"""The CDK stacks of a CentralOps deployment (see ``infra/app.py``)."""
