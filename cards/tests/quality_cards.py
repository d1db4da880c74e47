"""Hand-written cards for the quality rules: one good card, and helpers that spoil one thing."""

import datetime

from cards.providers.base import CardInput

INPUT = CardInput(
    name="System wizyjnej kontroli jakości spoin ram rowerowych",
    description=(
        "Spółka spawa ramy rowerowe z aluminium na dwóch zrobotyzowanych stanowiskach. Kontrola spoin jest dziś "
        "wzrokowa i wyrywkowa: kontroler ogląda co dziesiątą ramę, a odsetek wad wykrywanych dopiero u klienta "
        "wynosi 2,4%. Projekt obejmował zbudowanie stanowiska z trzema kamerami i oświetleniem strukturalnym, "
        "zebranie i opisanie zbioru 6000 zdjęć spoin, opracowanie własnego modelu klasyfikacji wad (pory, "
        "podtopienia, brak przetopu, pęknięcia) oraz metody kompensacji odblasków od aluminium. Testowano sieci "
        "konwolucyjne i klasyczne cechy tekstury; czas analizy jednej ramy nie mógł przekroczyć 40 sekund, aby "
        "nie spowalniać linii."
    ),
    goal=(
        "Zmniejszenie odsetka wadliwych spoin wykrywanych u klienta z 2,4% do poniżej 0,5% przy czasie analizy "
        "jednej ramy do 40 sekund."
    ),
    start_date=datetime.date(2024, 2, 1),
    end_date=datetime.date(2024, 11, 30),
    responsible_person="Łukasz Żółkiewski",
    extra=(("Koszty wynagrodzeń (PLN)", "150000"), ("Materiały (PLN)", "42000")),
)

GOOD_SECTIONS: dict[str, str] = {
    "nazwa_projektu": "System wizyjnej kontroli jakości spoin ram rowerowych",
    "cel_projektu": """Celem projektu było opracowanie systemu wizyjnej kontroli jakości spoin, który ocenia każdą spawaną ramę rowerową z aluminium bezpośrednio na linii produkcyjnej, zamiast wyrywkowej kontroli wzrokowej obejmującej co dziesiątą ramę. Produktem końcowym jest stanowisko pomiarowe z trzema kamerami i oświetleniem strukturalnym, własny model klasyfikacji wad spoin oraz metoda kompensacji odblasków od powierzchni aluminium, połączone w jeden układ działający w takcie linii.

Mierzalny cel względem stanu wyjściowego: zmniejszenie odsetka wadliwych spoin wykrywanych dopiero u klienta z 2,4% do poniżej 0,5%, przy czasie analizy jednej ramy nie dłuższym niż 40 sekund. Drugi warunek wynikał z taktu linii spawalniczej: system, który spowalniałby produkcję, nie mógłby zastąpić kontroli wzrokowej, nawet przy wysokiej skuteczności.

Rozwiązanie miało wyróżniać się tym, że rozpoznaje cztery rodzaje wad istotnych dla wytrzymałości ramy: pory, podtopienia, brak przetopu i pęknięcia, a nie tylko odróżnia spoinę poprawną od niepoprawnej. Dzięki temu kontroler otrzymuje wskazanie miejsca i rodzaju wady, a dział technologii dane o tym, które parametry spawania sprzyjają danemu rodzajowi wady. Cel obejmował również udokumentowanie granic stosowalności metody: przy jakich kształtach węzłów ramy i jakich warunkach oświetlenia ocena pozostaje wiarygodna, a kiedy rama musi trafić do kontroli ręcznej. Ta wiedza jest warunkiem, aby kontrola automatyczna mogła zastąpić oględziny bez ryzyka, że wadliwe ramy przejdą niezauważone w miejscach, których system nie widzi dobrze.""",
    "opis_projektu": """Spółka spawa ramy rowerowe z aluminium na dwóch zrobotyzowanych stanowiskach. Dotychczasowa kontrola spoin polegała na oględzinach wykonywanych przez kontrolera, który ze względu na czas oglądał co dziesiątą ramę. Wady wewnętrzne i drobne pęknięcia przy węzłach ujawniały się dopiero u klienta, a odsetek takich reklamacji wynosił 2,4%.

Punkt wyjścia i bariera technologiczna. Dostępne systemy wizyjne do kontroli spoin są projektowane dla stali i prostych, długich spoin liniowych. Aluminium silnie odbija światło, a spoiny ram rowerowych są krótkie, zakrzywione i leżą w miejscach, gdzie rury łączą się pod różnymi kątami. Obraz z pojedynczej kamery zawierał odblaski, które wyglądały jak pęknięcia, oraz cienie, które ukrywały podtopienia. Nie było wiadomo, czy przy takich powierzchniach da się w ogóle uzyskać obraz wystarczający do rozróżnienia czterech rodzajów wad w czasie krótszym niż 40 sekund.

Elementy rozwiązania. Projekt obejmował zbudowanie stanowiska z trzema kamerami ustawionymi pod różnymi kątami względem węzła ramy oraz oświetleniem strukturalnym, które rzuca na spoinę wzór prążków. Zniekształcenie prążków pozwala odtworzyć kształt lica spoiny niezależnie od odblasków. Drugim elementem jest zbiór 6000 zdjęć spoin, zebranych na obu stanowiskach spawalniczych i opisanych przez kontrolerów jakości według rodzaju wady. Trzecim elementem jest własny model klasyfikacji wad, który łączy informację z trzech kamer i z obrazu prążków. Czwartym elementem jest metoda kompensacji odblasków od aluminium, opracowana w projekcie, która usuwa z obrazu obszary prześwietlone przed klasyfikacją.

Funkcje i parametry. System rejestruje obraz każdej spoiny ramy, wskazuje miejsca podejrzane, przypisuje im rodzaj wady i zapisuje wynik razem z numerem ramy. Rama z wykrytą wadą jest kierowana do kontroli ręcznej, a pozostałe przechodzą dalej bez zatrzymania linii. Czas analizy jednej ramy był od początku warunkiem brzegowym: nie mógł przekroczyć 40 sekund, aby nie spowalniać linii. Wyniki są zapisywane w bazie, z której dział technologii odczytuje, przy jakich parametrach spawania pojawiają się pory, a przy jakich brak przetopu.

Zakres prac badawczych. Testowano sieci konwolucyjne oraz klasyczne cechy tekstury obrazu, porównując ich skuteczność na tym samym zbiorze zdjęć spoin i w tych samych warunkach oświetlenia. Badano też wpływ ustawienia kamer i częstotliwości prążków na widoczność wad przy węzłach ram. Prace prowadził zespół działu technologii pod kierunkiem osoby odpowiedzialnej za projekt, a wyniki każdej próby zapisywano w dzienniku badań z opisem warunków, wersji modelu i uzyskanej skuteczności. Dzięki temu każdą decyzję o zmianie ustawienia kamer, oświetlenia lub modelu można odtworzyć i uzasadnić wynikami wcześniejszych prób. Zakres nie obejmował zakupu gotowego systemu: wszystkie elementy stanowiska, model i metoda kompensacji odblasków powstały w projekcie.""",
    "nowatorstwo": """Twórczy charakter prac polegał na zaprojektowaniu od podstaw układu pomiarowego i metod analizy obrazu dla spoin ram rowerowych z aluminium, których nie obsługiwały dostępne rozwiązania. Oryginalnymi rezultatami pracy zespołu są: projekt stanowiska z trzema kamerami i oświetleniem strukturalnym dobranym do kształtu węzłów ramy, własna metoda kompensacji odblasków od aluminium, autorski model klasyfikacji czterech rodzajów wad spoin oraz procedura opisywania zdjęć spoin, według której kontrolerzy przygotowali zbiór 6000 zdjęć.

Rozwiązania nie można było kupić ani skopiować. Systemy oferowane na rynku są przeznaczone do spoin stalowych i liniowych; przy aluminium dawały fałszywe wskazania pęknięć w miejscach odblasków, a przy zakrzywionych spoinach węzłów nie widziały podtopień. Nie istniał też zbiór zdjęć spoin aluminiowych ram z opisanymi rodzajami wad, na którym można by wytrenować model: zespół musiał go zaplanować, zebrać i opisać sam.

Twórczy był również sposób połączenia informacji z trzech kamer i z obrazu prążków w jednym modelu. Zespół opracował własną metodę wyboru, które fragmenty obrazu z której kamery są wiarygodne dla danego miejsca spoiny, zamiast prostego uśredniania, które zacierało drobne pęknięcia.

Poziom nowości: rozwiązanie jest nowe w skali przedsiębiorstwa, które wcześniej nie stosowało automatycznej kontroli spoin ani analizy obrazu w żadnym procesie produkcyjnym. Zespół nie miał wcześniej doświadczenia w budowie modeli klasyfikacji obrazu, więc metody i procedury powstały w projekcie od początku.""",
    "metodologia": """Prace prowadzono systematycznie, w etapach opisanych w harmonogramie, według schematu: hipoteza, próba na stanowisku, pomiar skuteczności na zbiorze testowym zdjęć spoin, ocena i decyzja o kolejnej iteracji. Każdą próbę zapisywano w dzienniku badań z opisem ustawienia kamer, oświetlenia, wersji modelu i wyniku.

Problem 1: odblaski od aluminium. Hipoteza zakładała, że oświetlenie strukturalne i obraz z trzech kamer pozwolą oddzielić odblask od rzeczywistego pęknięcia. Powodzenie nie było pewne, ponieważ nie wiadomo było, czy przy zakrzywionych spoinach węzłów którakolwiek kamera zobaczy spoinę bez prześwietlenia. Rozważano alternatywy: filtry polaryzacyjne, matowienie powierzchni przed kontrolą oraz zmianę kąta oświetlenia. Matowienie odrzucono, bo dodawało operację na linii; filtry sprawdzono w próbach i okazały się niewystarczające przy węzłach.

Problem 2: rozróżnienie czterech rodzajów wad. Ryzyko polegało na tym, że pory i podtopienia wyglądają na zdjęciach podobnie, a zbiór zdjęć z pęknięciami był mały. Porównano sieci konwolucyjne z klasycznymi cechami tekstury na tym samym zbiorze 6000 zdjęć spoin. Sieci rozpoznawały pory i podtopienia lepiej, ale myliły pęknięcia z odblaskami; cechy tekstury działały odwrotnie. Kolejne iteracje doprowadziły do modelu łączącego oba podejścia. Każda iteracja była oceniana na tej samej, wydzielonej części zbioru, której model nie widział podczas uczenia, aby wyniki kolejnych wersji dały się porównać.

Problem 3: czas analizy. Nie było wiadomo, czy model łączący obraz z trzech kamer zmieści się w limicie 40 sekund na ramę. Mierzono czas każdej wersji modelu na pełnej ramie i upraszczano te części, których udział w skuteczności był najmniejszy. Rozważano przeniesienie części obliczeń na osobny komputer przy każdej kamerze; ostatecznie wystarczyło uproszczenie modelu i zmiana kolejności przetwarzania obrazów.

Sposób dokumentowania wyników prac: dziennik badań, protokoły pomiarów skuteczności i czasu analizy dla każdej wersji modelu oraz repozytorium kodu z opisem zmian między iteracjami.""",
    "rezultaty": """Projekt przyniósł nową wiedzę, której firma wcześniej nie miała, i udokumentowane rozwiązanie gotowe do pracy na linii. Na początku nie wiedziała, czy spoiny aluminiowych ram da się oceniać automatycznie w takcie linii. Teraz wie, przy jakim ustawieniu kamer i oświetlenia strukturalnego odblaski od aluminium przestają zakłócać ocenę, które rodzaje wad spoin rozpoznaje sieć konwolucyjna, a które lepiej opisują klasyczne cechy tekstury, oraz jak połączyć te informacje, nie przekraczając 40 sekund analizy na ramę.

Stopień osiągnięcia celu sprawdzono na zbiorze testowym zdjęć spoin i w próbach na linii; wynik względem celu z 2,4% do poniżej 0,5% jest opisany w raporcie końcowym projektu.

Wiedzę można ponownie wykorzystać przy kontroli innych spoin aluminiowych w zakładzie, przy doborze parametrów spawania na podstawie danych o wykrytych wadach oraz przy planowaniu kolejnych stanowisk kontroli wizyjnej, także dla innych wyrobów spawanych z aluminium.

Rezultaty dokumentują: dziennik badań z opisem prób, protokoły testów skuteczności modelu, opisany zbiór 6000 zdjęć spoin, dokumentacja stanowiska pomiarowego oraz repozytorium kodu modelu i metody kompensacji odblasków.""",
    "koszty": """Koszty wskazane w arkuszu wejściowym, przypisane do kategorii kosztów kwalifikowanych (art. 18d ustawy o CIT):

- wynagrodzenia pracowników działu technologii wraz ze składkami, w części odpowiadającej czasowi pracy przy projekcie: 150000 zł
- materiały i surowce bezpośrednio związane z pracami (próbne ramy, elementy stanowiska pomiarowego): 42000 zł

Podział kosztów wynagrodzeń na czas pracy przy projekcie wynika z ewidencji czasu pracy prowadzonej dla projektu.""",
    "harmonogram": """Prace podzielono na etapy:

- Etap 1: Analiza wymagań i koncepcja stanowiska pomiarowego (01.02.2024 – 31.03.2024)
- Etap 2: Zbieranie i opisywanie zbioru zdjęć spoin, prototypy oświetlenia (01.04.2024 – 30.06.2024)
- Etap 3: Opracowanie i porównanie modeli klasyfikacji wad (01.07.2024 – 31.08.2024)
- Etap 4: Prototyp stanowiska na linii w warunkach zbliżonych do rzeczywistych (01.09.2024 – 31.10.2024)
- Etap 5: Walidacja, testy skuteczności i wersja końcowa (01.11.2024 – 30.11.2024)""",
}


def spoil(key: str, old: str, new: str) -> dict[str, str]:
    """The good card with one replacement in one section (the replaced text must be there)."""
    assert old in GOOD_SECTIONS[key], f"{old!r} not in {key}"
    return {**GOOD_SECTIONS, key: GOOD_SECTIONS[key].replace(old, new, 1)}


def with_section(key: str, text: str) -> dict[str, str]:
    return {**GOOD_SECTIONS, key: text}
