"""Review-like sentences for the benchmarks (mixed lengths, both sentiments)."""

TEXTS = [
    "A warm, funny and deeply moving film.",
    "Dull, tedious and badly acted; a complete waste of time.",
    "The plot wanders, but the performances hold it together and the last act lands.",
    "I have rarely been this bored in a cinema.",
    "Gorgeous to look at and smarter than it needs to be, with a score that lingers for days afterwards.",
    "Not the worst film of the year, but close.",
]
