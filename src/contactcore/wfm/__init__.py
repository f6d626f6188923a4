"""Workforce management: interval statistics, forecasts, Erlang C/A staffing."""
