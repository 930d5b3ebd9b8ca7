"""Time: the injectable clock, durations, the French legal calendar, timer events and the scheduler."""
