"""Challenges: a challenger version compared with the champion on the same requests, and judged by a rule."""
