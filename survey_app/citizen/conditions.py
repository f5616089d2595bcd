"""Turn declarative ``show_if`` conditions into CSS, so the form adapts without JavaScript.

For a rating or single choice, each option value either satisfies the
condition or not, so "hide question B while option v of A is checked" is a
``:has()`` selector. Browsers without ``:has()`` simply show every question;
the server drops answers to questions whose condition does not hold.
"""

from __future__ import annotations

from questionnaires import Question, Questionnaire

SINGLE = ("rating", "choice")


def _typed(question: Question, value: str) -> object:
    return int(value) if question.kind == "rating" else value


def _hide_when(q: Questionnaire, question: Question) -> list[str]:
    condition = question.show_if
    if condition is None:
        return []
    parent = q.question(condition.question)
    name = f'[name="{parent.id}"]'
    selectors: list[str] = []
    if parent.kind in SINGLE:
        selectors.append(f"form:not(:has({name}:checked))")
        for option in parent.options:
            if not condition.holds({parent.id: _typed(parent, option.value)}):
                selectors.append(f'form:has({name}[value="{option.value}"]:checked)')
    elif parent.kind == "multi" and condition.op == "contains":
        selectors.append(f'form:not(:has({name}[value="{condition.value}"]:checked))')
    else:
        return []
    # A question hangs on its parent: hidden whenever the parent is hidden.
    return selectors + _hide_when(q, parent)


def condition_css(q: Questionnaire) -> str:
    rules = []
    for question in q.questions:
        selectors = _hide_when(q, question)
        if selectors:
            targets = ",".join(f"{s} #q-{question.id}" for s in selectors)
            rules.append(f"{targets}{{display:none}}")
    return "\n".join(rules) + "\n"
