"""meshroll.analysis: measure and judge. Imports nothing else of meshroll's."""
