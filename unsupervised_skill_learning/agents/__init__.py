"""Agents: SAC and the policy it trains."""
