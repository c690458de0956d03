"""Queries: conditions, the pure planner, and the query builder with its executors."""
