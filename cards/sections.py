"""The eight sections of a karta projektu B+R: fixed keys, in order, with Polish headings."""

SECTION_KEYS: tuple[str, ...] = (
    "nazwa_projektu",
    "cel_projektu",
    "opis_projektu",
    "nowatorstwo",
    "metodologia",
    "rezultaty",
    "koszty",
    "harmonogram",
)

SECTION_HEADINGS: dict[str, str] = {
    "nazwa_projektu": "Nazwa projektu",
    "cel_projektu": "Cel projektu",
    "opis_projektu": "Opis projektu",
    "nowatorstwo": "Nowatorstwo i twórczy charakter prac",
    "metodologia": "Metodologia i systematyczność prac",
    "rezultaty": "Rezultaty i nowa wiedza",
    "koszty": "Koszty kwalifikowane",
    "harmonogram": "Harmonogram",
}
