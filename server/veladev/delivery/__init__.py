"""Delivery: apply the Application, trigger its workflow, watch the steps, promote."""
