"""Questionnaire texts shared by the tests."""

# A small valid questionnaire using every kind and condition op family.
MINI = """\
id = "mini"
version = 2
title = "Mini"

[[questions]]
id = "ease"
kind = "rating"
text = "How easy was it?"
required = true
scale = 3
labels = ["Hard", "So-so", "Easy"]

[[questions]]
id = "why"
kind = "choice"
text = "Why?"
show_if = { question = "ease", op = "<", value = 3 }
options = [{ value = "slow", label = "Slow" }, { value = "hard", label = "Confusing" }]

[[questions]]
id = "extras"
kind = "multi"
text = "What else?"
show_if = { question = "why", op = "==", value = "slow" }
options = [{ value = "queue", label = "Queue" }, { value = "fee", label = "Fee" }]

[[questions]]
id = "note"
kind = "text"
text = "Note"
hint = "Optional."
max_length = 5
show_if = { question = "extras", op = "contains", value = "fee" }
"""
