"""strip_gutenberg: modern and 1990s Project Gutenberg wrappers; clean text is left alone."""

from rnnlab.data import strip_gutenberg

BODY = "THE TEMPEST\n\nby William Shakespeare\n\nACT I. SCENE 1.\nOn a ship at sea."


def test_modern_header_and_footer():
    text = (
        "The Project Gutenberg EBook of The Tempest, by William Shakespeare\n\n"
        "This eBook is for the use of anyone anywhere at no cost.\n\n"
        "Title: The Tempest\n\n"
        "*** START OF THIS PROJECT GUTENBERG EBOOK THE TEMPEST ***\n\n\n"
        f"{BODY}\n\n\n"
        "End of the Project Gutenberg EBook of The Tempest\n\n"
        "*** END OF THIS PROJECT GUTENBERG EBOOK THE TEMPEST ***\n\n"
        "Updated editions will replace the previous one.\n"
    )
    assert strip_gutenberg(text) == BODY


def test_old_small_print_header():
    text = (
        "**The Project Gutenberg Etext of The Tempest**\n"
        "*****These Etexts Are Prepared By Thousands of Volunteers!*****\n"
        "*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\n\n"
        f"{BODY}\n\n"
        "End of Project Gutenberg Etext of The Tempest\n"
    )
    assert strip_gutenberg(text) == BODY


def test_preamble_without_start_marker():
    text = (
        "The Project Gutenberg EBook of The Tempest, by William Shakespeare\n"
        "This eBook is for the use of anyone anywhere.\n\n"
        f"{BODY}\n"
    )
    assert strip_gutenberg(text) == BODY


def test_clean_text_is_unchanged():
    assert strip_gutenberg(f"\n\n{BODY}\n\n") == BODY
    assert strip_gutenberg("") == ""
