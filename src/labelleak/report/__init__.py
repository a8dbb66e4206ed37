"""Reports of experiment results: tidy tables (CSV/Markdown), figures and the Markdown/HTML report."""
