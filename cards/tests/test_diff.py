"""The word-level diff (cards.diff): marks changed words only and never lets text become markup."""

from cards.diff import tokens, word_diff


def test_a_changed_number_marks_only_that_word():
    diff = word_diff("Skrócenie czasu o 40%, do 2024 r.", "Skrócenie czasu o 45%, do 2024 r.")
    assert diff.html == "Skrócenie czasu o <del>40</del><ins>45</ins>%, do 2024 r."
    assert (diff.added, diff.removed) == (1, 1)


def test_added_and_removed_words_are_counted_and_wrapped():
    diff = word_diff("Prototyp nowej linii spawalniczej", "Prototyp linii spawalniczej z kamerą")
    assert diff.html == "Prototyp <del>nowej </del>linii spawalniczej <ins>z kamerą</ins>"
    assert (diff.added, diff.removed) == (2, 1)


def test_a_rewritten_sentence_is_one_change_not_word_crumbs():
    diff = word_diff("Zmniejszenie odsetka wadliwych spoin. Cel projektu", "Zupełnie nowy cel projektu")
    assert diff.html == "<del>Zmniejszenie odsetka wadliwych spoin. Cel </del><ins>Zupełnie nowy cel </ins>projektu"


def test_identical_texts_are_unchanged_and_escaped():
    diff = word_diff("A & B", "A & B")
    assert diff.unchanged
    assert diff.html == "A &amp; B"


def test_markup_in_either_text_is_escaped_never_injected():
    old = 'Tekst <script>alert(1)</script> "x"'
    new = "Tekst <img src=x onerror=alert(2)> 'y' </ins><b>"
    diff = word_diff(old, new)
    stripped = diff.html.replace("<ins>", "").replace("</ins>", "").replace("<del>", "").replace("</del>", "")
    assert "<" not in stripped and ">" not in stripped
    for raw in ("<script", "<img", "<b>", "</script"):
        assert raw not in diff.html
    assert "&lt;" in diff.html and "onerror=" in diff.html and "&quot;x&quot;" in diff.html
    assert diff.html.count("<ins>") == diff.html.count("</ins>")
    assert diff.html.count("<del>") == diff.html.count("</del>")


def test_polish_words_are_single_tokens_and_whitespace_is_kept():
    assert tokens("Żółć, gęślą\n\njaźń") == ["Żółć", ", ", "gęślą\n\n", "jaźń"]
    diff = word_diff("akapit pierwszy\n\nakapit drugi", "akapit pierwszy\n\nakapit trzeci")
    assert diff.html == "akapit pierwszy\n\nakapit <del>drugi</del><ins>trzeci</ins>"


def test_empty_texts():
    assert word_diff("", "").unchanged
    diff = word_diff("", "nowy tekst")
    assert diff.html == "<ins>nowy tekst</ins>" and diff.added == 2
    diff = word_diff("stary tekst", "")
    assert diff.html == "<del>stary tekst</del>" and diff.removed == 2
