"""Write the demo partners' catalogues: four MARC files and a course feed.

Every record here is invented for the demo. Each edition is described once,
as readable data below; each partner then writes its own copy the way its
library system and its cataloguers would (SLiMS, Koha, INLISLite), so the
pool's matching has real differences to work through. The output is the
same bytes on every run: the only randomness comes from one fixed seed.

    .venv/bin/python scripts/make_demo.py [OUTPUT_DIR]

OUTPUT_DIR defaults to config/demo. See docs/demo.md for what is inside.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lxml import etree
from pymarc import Field, Indicators, Leader, Record, Subfield

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "config" / "demo"
SEED = 20240917
PARTNERS = ("TBL", "UNA", "SMA1", "TBM")
MARC_NS = "http://www.loc.gov/MARC21/slim"

# MARC organisation codes in the Library of Congress pattern for Indonesia
# (country "Id", place, institution), used in 003 and 040.
ORG_CODES = {"TBL": "IdTbPK", "UNA": "IdTbUA", "SMA1": "IdTbS1", "TBM": "IdTbTM"}


# ---------------------------------------------------------------- the data model


@dataclass(frozen=True)
class Publisher:
    """A publisher with the ISBN registrant prefix the demo gives it."""

    name: str
    short: str
    place: str
    country: str  # MARC country code for 008/15-17, three characters
    prefix: str  # hyphenated ISBN-13 prefix up to the registrant


@dataclass(frozen=True)
class Edition:
    """One edition: every copy of it at any partner describes this."""

    key: str
    title: str  # sentence case, proper nouns capitalised
    author: str | None
    publisher: Publisher
    year: int
    pages: str
    holders: tuple[str, ...]
    ddc: str
    subjects: tuple[str, ...]
    subtitle: str = ""
    lang: str = "ind"
    edition: str = ""
    series: str = ""
    volume: str = ""  # 245 $n
    volume_title: str = ""  # 245 $p
    set_key: str = ""  # editions sharing a set ISBN
    isbn: str = ""  # "none" for items without one; empty means derive it
    set_isbn: str = ""  # filled in from set_key
    kind: str = "print"  # print | ebook | course | manuscript | archive | colonial
    url: str = ""
    print_key: str = ""  # the print edition an e-book was made from
    print_isbn: str = ""  # filled in from print_key
    summary: str = ""
    contributors: tuple[str, ...] = ()
    translated_from: str = ""
    literary: str = "0"  # 008/33
    audience: str = " "  # 008/22
    reference: bool = False
    local: bool = False  # about Tanjungbalai or Asahan: the city library shelves it apart
    dates: str = ""  # 008/06-14 for undated manuscripts, e.g. "q18001850"
    jawi: str = ""  # the title in Jawi (Arabic script), given in 880
    notes: tuple[str, ...] = ()
    extent: str = ""  # 300 $a for manuscripts and online items, as it stands
    digitised: str = ""  # 533 for a digital copy of an old original
    cataloguing: str = ""  # 040 $e beyond rda, e.g. dcrmb


def p(name: str, short: str, place: str, country: str, prefix: str) -> Publisher:
    """Shorthand for the publisher table."""
    return Publisher(name, short, place, country, prefix)


GPU = p("Gramedia Pustaka Utama", "Gramedia", "Jakarta", "io ", "978-602-03")
GPU_OLD = p("Gramedia Pustaka Utama", "Gramedia", "Jakarta", "io ", "978-979-22")
KPG = p("Kepustakaan Populer Gramedia", "KPG", "Jakarta", "io ", "978-602-424")
BENTANG = p("Bentang Pustaka", "Bentang", "Yogyakarta", "io ", "978-602-291")
BENTANG_OLD = p("Bentang Pustaka", "Bentang", "Yogyakarta", "io ", "978-979-3062")
LENTERA = p("Lentera Dipantara", "Lentera Dipantara", "Jakarta", "io ", "978-979-97312")
HASTA = p("Hasta Mitra", "Hasta Mitra", "Jakarta", "io ", "")
REPUBLIKA = p("Republika Penerbit", "Republika", "Jakarta", "io ", "978-602-8997")
REPUBLIKA_OLD = p("Republika", "Republika", "Jakarta", "io ", "978-979-3210")
BULAN_BINTANG = p("Bulan Bintang", "Bulan Bintang", "Jakarta", "io ", "978-979-418")
GEMA = p("Gema Insani", "Gema Insani", "Jakarta", "io ", "978-602-250")
LENTERA_HATI = p("Lentera Hati", "Lentera Hati", "Tangerang", "io ", "978-602-8983")
BALAI = p("Balai Pustaka", "Balai Pustaka", "Jakarta", "io ", "978-979-407")
OBOR = p("Yayasan Pustaka Obor Indonesia", "Obor", "Jakarta", "io ", "978-602-433")
MIZAN = p("Mizan", "Mizan", "Bandung", "io ", "978-602-441")
PASTEL = p("Pastel Books", "Pastel Books", "Bandung", "io ", "978-602-0851")
MEDIAKITA = p("Mediakita", "Mediakita", "Jakarta", "io ", "978-979-794")
SINAR_BARU = p("Sinar Baru Algensindo", "Sinar Baru", "Bandung", "io ", "978-979-8027")
KAUTSAR = p("Pustaka Al-Kautsar", "Al-Kautsar", "Jakarta", "io ", "978-979-592")
RAJAGRAFINDO = p("RajaGrafindo Persada", "Rajawali Pers", "Depok", "io ", "978-979-769")
PENEBAR = p("Penebar Swadaya", "Penebar Swadaya", "Jakarta", "io ", "978-979-002")
AGROMEDIA = p("AgroMedia Pustaka", "AgroMedia", "Jakarta", "io ", "978-979-006")
KANISIUS = p("Kanisius", "Kanisius", "Yogyakarta", "io ", "978-979-21")
AKADEMIKA = p("Akademika Pressindo", "Akademika", "Jakarta", "io ", "978-979-8271")
RINEKA = p("Rineka Cipta", "Rineka Cipta", "Jakarta", "io ", "978-979-518")
USU = p("USU Press", "USU Press", "Medan", "io ", "978-602-465")
IPB = p("IPB Press", "IPB Press", "Bogor", "io ", "978-979-493")
BUMI_AKSARA = p("Bumi Aksara", "Bumi Aksara", "Jakarta", "io ", "978-602-217")
ALFABETA = p("Alfabeta", "Alfabeta", "Bandung", "io ", "978-602-289")
SERAMBI = p("Serambi Ilmu Semesta", "Serambi", "Jakarta", "io ", "978-979-024")
KOMBAM = p("Komunitas Bambu", "Komunitas Bambu", "Depok", "io ", "978-602-9402")
NARASI = p("Narasi", "Narasi", "Yogyakarta", "io ", "978-979-168")
GRAFITI = p("Pustaka Utama Grafiti", "Grafiti", "Jakarta", "io ", "978-979-444")
SINAR_HARAPAN = p("Pustaka Sinar Harapan", "Sinar Harapan", "Jakarta", "io ", "978-979-416")
KOMPAS = p("Penerbit Buku Kompas", "Kompas", "Jakarta", "io ", "978-602-412")
MABMI = p("Majelis Adat Budaya Melayu Indonesia", "MABMI", "Medan", "io ", "978-623-91245")
PEMKO = p(
    "Dinas Perpustakaan dan Kearsipan Kota Tanjungbalai",
    "Dinas Perpustakaan Kota Tanjungbalai",
    "Tanjungbalai",
    "io ",
    "978-623-7245",
)
BPS = p("Badan Pusat Statistik Kota Tanjungbalai", "BPS", "Tanjungbalai", "io ", "978-623-5402")
KEMDIKBUD = p(
    "Pusat Kurikulum dan Perbukuan, Kementerian Pendidikan dan Kebudayaan",
    "Kemendikbud",
    "Jakarta",
    "io ",
    "978-602-282",
)
BALAI_BAHASA = p("Balai Bahasa Sumatera Utara", "Balai Bahasa", "Medan", "io ", "978-623-7390")
GRASINDO = p("Grasindo", "Grasindo", "Jakarta", "io ", "978-602-452")
BIP = p("Bhuana Ilmu Populer", "BIP", "Jakarta", "io ", "978-602-455")
DAR_MIZAN = p("Dar! Mizan", "Dar Mizan", "Bandung", "io ", "978-602-420")
KANAK = p("Kanak", "Kanak", "Jakarta", "io ", "978-602-8510")
DBP = p("Dewan Bahasa dan Pustaka", "DBP", "Kuala Lumpur", "my ", "978-983-62")
OUP = p("Oxford University Press", "OUP", "Oxford", "enk", "978-0-19")
CUP = p("Cambridge University Press", "CUP", "Cambridge", "enk", "978-1-107")
VERSO = p("Verso", "Verso", "London", "enk", "978-1-84467")
YALE = p("Yale University Press", "Yale UP", "New Haven", "ctu", "978-0-300")
UCHICAGO = p("University of Chicago Press", "Chicago UP", "Chicago", "ilu", "978-0-226")
UMICH = p("University of Michigan Press", "Michigan UP", "Ann Arbor", "miu", "978-0-472")
PALGRAVE = p("Palgrave Macmillan", "Palgrave", "Basingstoke", "enk", "978-0-230")
WILEY = p("Wiley", "Wiley", "Hoboken, NJ", "nju", "978-1-119")
BLACKWELL = p("Wiley-Blackwell", "Wiley-Blackwell", "Chichester", "enk", "978-1-4051")
SAGE = p("SAGE Publications", "SAGE", "Thousand Oaks, CA", "cau", "978-1-5063")
SAGE_UK = p("SAGE Publications", "SAGE", "London", "enk", "978-1-5264")
MCGRAW = p("McGraw-Hill", "McGraw-Hill", "New York", "nyu", "978-0-07")
CENGAGE = p("Cengage Learning", "Cengage", "Boston", "mau", "978-1-337")
PEARSON = p("Pearson", "Pearson", "Harlow", "enk", "978-1-292")
MIT = p("MIT Press", "MIT Press", "Cambridge, MA", "mau", "978-0-262")
FAO = p("Food and Agriculture Organization of the United Nations", "FAO", "Rome", "it ", "978-92-5")
SPRINGER = p("Springer", "Springer", "Dordrecht", "ne ", "978-1-4020")
ROUTLEDGE = p("Routledge", "Routledge", "London", "enk", "978-0-415")
PENGUIN = p("Penguin Books", "Penguin", "London", "enk", "978-0-14")
VINTAGE = p("Vintage", "Vintage", "London", "enk", "978-0-09")
NORTON = p("W. W. Norton", "Norton", "New York", "nyu", "978-0-393")
BASIC = p("Basic Books", "Basic Books", "New York", "nyu", "978-0-465")
ISEAS = p("ISEAS Publishing", "ISEAS", "Singapore", "si ", "978-981-4786")
NUS = p("NUS Press", "NUS Press", "Singapore", "si ", "978-981-4722")
PHILOMEL = p("Philomel Books", "Philomel", "New York", "nyu", "978-0-399")
HARPER = p("HarperCollins", "HarperCollins", "New York", "nyu", "978-0-06")
PUFFIN = p("Puffin Books", "Puffin", "London", "enk", "978-0-14")
BLOOMSBURY = p("Bloomsbury", "Bloomsbury", "London", "enk", "978-1-4088")
AMULET = p("Amulet Books", "Amulet", "New York", "nyu", "978-0-8109")
LANDSDRUKKERIJ = p("Landsdrukkerij", "Landsdrukkerij", "Batavia", "io ", "")
ALBRECHT = p("Albrecht & Co.", "Albrecht", "Batavia", "io ", "")
KOLFF = p("G. Kolff & Co.", "Kolff", "Batavia", "io ", "")
NO_PUBLISHER = p("", "", "", "xx ", "")
SPADA = p(
    "Direktorat Jenderal Pendidikan Tinggi, Riset, dan Teknologi", "Ditjen Diktiristek",
    "Jakarta", "io ", "",
)
UNA_PRESS = p("Universitas Asahan", "Universitas Asahan", "Kisaran", "io ", "")


def holders(text: str) -> tuple[str, ...]:
    """Split "TBL UNA" into partner codes, refusing a code that is not a partner."""
    codes = tuple(text.split())
    unknown = [code for code in codes if code not in PARTNERS]
    if unknown:
        raise ValueError(f"unknown partner codes {unknown} in holders {text!r}")
    return codes


def novel(key: str, title: str, author: str, pub: Publisher, year: int, pages: str,
          held: str, **extra: Any) -> Edition:
    """An Indonesian novel (DDC 899.2213, fiction in 008/33)."""
    extra.setdefault("subjects", ("Fiksi Indonesia",))
    return Edition(key=key, title=title, author=author, publisher=pub, year=year, pages=pages,
                   holders=holders(held), ddc=str(extra.pop("ddc", "899.2213")),
                   literary=str(extra.pop("literary", "f")), **extra)


def book(key: str, title: str, author: str | None, pub: Publisher, year: int, pages: str,
         held: str, ddc: str, subjects: str, **extra: Any) -> Edition:
    """A non-fiction book; subjects are separated by " ; "."""
    return Edition(key=key, title=title, author=author, publisher=pub, year=year, pages=pages,
                   holders=holders(held), ddc=ddc, subjects=tuple(subjects.split(" ; ")),
                   **extra)


# ---------------------------------------------------------------- Indonesian fiction

FICTION = [
    novel("laskar-pelangi", "Laskar pelangi", "Hirata, Andrea", BENTANG_OLD, 2005,
          "xxxiv, 529", "TBL UNA SMA1 TBM", edition="Cetakan ke-1",
          series="Tetralogi Laskar Pelangi",
          summary="Sepuluh anak miskin di Belitong bersekolah di SD Muhammadiyah yang nyaris "
          "ditutup, dibimbing dua guru yang tak pernah menyerah."),
    novel("sang-pemimpi", "Sang pemimpi", "Hirata, Andrea", BENTANG_OLD, 2006, "x, 292",
          "TBL SMA1 TBM", series="Tetralogi Laskar Pelangi"),
    novel("edensor", "Edensor", "Hirata, Andrea", BENTANG, 2007, "xii, 290", "TBL UNA",
          series="Tetralogi Laskar Pelangi"),
    novel("maryamah-karpov", "Maryamah Karpov", "Hirata, Andrea", BENTANG, 2008, "xiv, 504",
          "TBL", subtitle="mimpi-mimpi Lintang", series="Tetralogi Laskar Pelangi"),
    novel("padang-bulan", "Padang bulan", "Hirata, Andrea", BENTANG, 2010, "xii, 254", "TBL TBM"),
    novel("ayah", "Ayah", "Hirata, Andrea", BENTANG, 2015, "xx, 396", "TBL UNA TBM"),
    novel("guru-aini", "Guru Aini", "Hirata, Andrea", BENTANG, 2020, "viii, 336", "TBL SMA1"),
    novel("orang-orang-biasa", "Orang-orang biasa", "Hirata, Andrea", BENTANG, 2019, "viii, 300",
          "UNA"),
    novel("bumi-manusia-1980", "Bumi manusia", "Toer, Pramoedya Ananta", HASTA, 1980, "xi, 354",
          "UNA", isbn="none", notes=("Edisi pertama; sempat dilarang beredar.",)),
    novel("bumi-manusia", "Bumi manusia", "Toer, Pramoedya Ananta", LENTERA, 2005, "535",
          "TBL UNA SMA1 TBM", series="Tetralogi Buru", edition="Cetakan ke-1",
          summary="Minke, pemuda pribumi terpelajar di Surabaya akhir abad ke-19, jatuh cinta "
          "pada Annelies dan berhadapan dengan hukum kolonial."),
    novel("anak-semua-bangsa", "Anak semua bangsa", "Toer, Pramoedya Ananta", LENTERA, 2006,
          "539", "TBL UNA SMA1", series="Tetralogi Buru"),
    novel("jejak-langkah", "Jejak langkah", "Toer, Pramoedya Ananta", LENTERA, 2006, "724",
          "TBL UNA", series="Tetralogi Buru"),
    novel("rumah-kaca", "Rumah kaca", "Toer, Pramoedya Ananta", LENTERA, 2006, "646", "TBL UNA",
          series="Tetralogi Buru"),
    novel("gadis-pantai", "Gadis pantai", "Toer, Pramoedya Ananta", LENTERA, 2003, "270",
          "TBL UNA TBM"),
    novel("arok-dedes", "Arok Dedes", "Toer, Pramoedya Ananta", LENTERA, 2006, "xii, 561", "UNA"),
    novel("perburuan", "Perburuan", "Toer, Pramoedya Ananta", LENTERA, 2002, "176", "TBL"),
    novel("cerita-dari-blora", "Cerita dari Blora", "Toer, Pramoedya Ananta", LENTERA, 2004,
          "xiii, 390", "UNA", literary="j"),
    novel("larasati", "Larasati", "Toer, Pramoedya Ananta", LENTERA, 2003, "180", "TBL"),
    novel("hafalan-shalat-delisa", "Hafalan shalat Delisa", "Liye, Tere", REPUBLIKA, 2008,
          "x, 266", "TBL SMA1 TBM", edition="Cetakan ke-10"),
    novel("bidadari-bidadari-surga", "Bidadari-bidadari surga", "Liye, Tere", REPUBLIKA, 2008,
          "368", "TBL TBM"),
    novel("rembulan-tenggelam", "Rembulan tenggelam di wajahmu", "Liye, Tere", REPUBLIKA, 2009,
          "426", "TBL UNA"),
    novel("daun-yang-jatuh", "Daun yang jatuh tak pernah membenci angin", "Liye, Tere", GPU,
          2010, "256", "TBL SMA1 TBM"),
    novel("negeri-para-bedebah", "Negeri para bedebah", "Liye, Tere", GPU, 2012, "440", "TBL UNA"),
    novel("pulang-tere-liye", "Pulang", "Liye, Tere", REPUBLIKA, 2015, "iv, 400",
          "TBL UNA SMA1 TBM"),
    novel("pergi", "Pergi", "Liye, Tere", REPUBLIKA, 2018, "iv, 455", "TBL"),
    novel("rindu", "Rindu", "Liye, Tere", REPUBLIKA, 2014, "544", "TBL SMA1 TBM"),
    novel("hujan", "Hujan", "Liye, Tere", GPU, 2016, "320", "TBL UNA SMA1 TBM"),
    novel("bumi-tere-liye", "Bumi", "Liye, Tere", GPU, 2014, "440", "TBL SMA1 TBM",
          series="Serial Bumi ; 1"),
    novel("bulan-tere-liye", "Bulan", "Liye, Tere", GPU, 2015, "400", "TBL SMA1",
          series="Serial Bumi ; 2"),
    novel("matahari-tere-liye", "Matahari", "Liye, Tere", GPU, 2016, "392", "TBL",
          series="Serial Bumi ; 3"),
    novel("tentang-kamu", "Tentang kamu", "Liye, Tere", REPUBLIKA, 2016, "524", "TBL UNA"),
    novel("supernova-kpbj", "Supernova", "Lestari, Dee", BENTANG, 2012, "xiv, 338", "TBL UNA",
          subtitle="ksatria, puteri, dan bintang jatuh", series="Supernova ; episode 1"),
    novel("supernova-akar", "Supernova", "Lestari, Dee", BENTANG, 2012, "262", "TBL",
          subtitle="akar", series="Supernova ; episode 2"),
    novel("supernova-petir", "Supernova", "Lestari, Dee", BENTANG, 2012, "xii, 276", "TBL",
          subtitle="petir", series="Supernova ; episode 3"),
    novel("supernova-partikel", "Supernova", "Lestari, Dee", BENTANG, 2012, "xii, 500", "TBL UNA",
          subtitle="partikel", series="Supernova ; episode 4"),
    novel("perahu-kertas", "Perahu kertas", "Lestari, Dee", BENTANG, 2009, "xiv, 444",
          "TBL SMA1 TBM"),
    novel("filosofi-kopi", "Filosofi kopi", "Lestari, Dee", BENTANG, 2012, "xii, 134", "TBL UNA",
          subtitle="kumpulan cerita dan prosa satu dekade", literary="j"),
    novel("aroma-karsa", "Aroma karsa", "Lestari, Dee", BENTANG, 2018, "viii, 710", "TBL UNA"),
    novel("madre", "Madre", "Lestari, Dee", BENTANG, 2011, "viii, 162", "TBM", literary="j"),
    novel("tenggelamnya-kapal", "Tenggelamnya kapal Van der Wijck", "Hamka", BULAN_BINTANG, 2002,
          "vi, 224", "TBL UNA SMA1 TBM", edition="Cetakan ke-26"),
    novel("di-bawah-lindungan", "Di bawah lindungan Ka'bah", "Hamka", BULAN_BINTANG, 2001, "72",
          "TBL SMA1 TBM"),
    novel("merantau-ke-deli", "Merantau ke Deli", "Hamka", GEMA, 2017, "xii, 208", "TBL UNA",
          local=True),
    novel("ayat-ayat-cinta", "Ayat-ayat cinta", "El Shirazy, Habiburrahman", REPUBLIKA_OLD, 2004,
          "xxxvi, 418", "TBL SMA1 TBM"),
    novel("ketika-cinta-bertasbih", "Ketika cinta bertasbih", "El Shirazy, Habiburrahman",
          REPUBLIKA, 2007, "476", "TBL", subtitle="sebuah dwilogi pembangun jiwa"),
    novel("negeri-5-menara", "Negeri 5 menara", "Fuadi, Ahmad", GPU, 2009, "xii, 423",
          "TBL UNA SMA1 TBM", series="Trilogi Negeri 5 Menara",
          summary="Alif meninggalkan Maninjau untuk belajar di sebuah pondok di Jawa Timur dan "
          "menemukan sahabat serta mantra man jadda wajada."),
    novel("ranah-3-warna", "Ranah 3 warna", "Fuadi, Ahmad", GPU, 2011, "xiv, 473", "TBL SMA1",
          series="Trilogi Negeri 5 Menara"),
    novel("rantau-1-muara", "Rantau 1 muara", "Fuadi, Ahmad", GPU, 2013, "x, 407", "TBL",
          series="Trilogi Negeri 5 Menara"),
    novel("ronggeng-dukuh-paruk", "Ronggeng Dukuh Paruk", "Tohari, Ahmad", GPU, 2011, "408",
          "TBL UNA"),
    novel("cantik-itu-luka", "Cantik itu luka", "Kurniawan, Eka", GPU, 2015, "vi, 505", "TBL UNA"),
    novel("lelaki-harimau", "Lelaki harimau", "Kurniawan, Eka", GPU, 2014, "192", "UNA"),
    novel("laut-bercerita", "Laut bercerita", "Chudori, Leila S.", KPG, 2017, "x, 379",
          "TBL UNA SMA1"),
    # Same one-word title as Tere Liye's novel above: a different work, not a match.
    novel("pulang-leila", "Pulang", "Chudori, Leila S.", KPG, 2012, "viii, 461", "UNA"),
    novel("amba", "Amba", "Pamuntjak, Laksmi", GPU, 2012, "496", "UNA"),
    novel("saman", "Saman", "Utami, Ayu", KPG, 2013, "xii, 206", "TBL UNA"),
    novel("sitti-nurbaya", "Sitti Nurbaya", "Rusli, Marah", BALAI, 2008, "271", "TBL SMA1 TBM",
          subtitle="kasih tak sampai", series="Seri sastra klasik"),
    novel("salah-asuhan", "Salah asuhan", "Muis, Abdul", BALAI, 2009, "262", "TBL SMA1",
          series="Seri sastra klasik"),
    novel("layar-terkembang", "Layar terkembang", "Alisjahbana, Sutan Takdir", BALAI, 2008,
          "166", "TBL SMA1", series="Seri sastra klasik"),
    novel("atheis", "Atheis", "Mihardja, Achdiat K.", BALAI, 2009, "232", "UNA"),
    novel("harimau-harimau", "Harimau! harimau!", "Lubis, Mochtar", OBOR, 2013, "xii, 220",
          "TBL UNA"),
    novel("jalan-tak-ada-ujung", "Jalan tak ada ujung", "Lubis, Mochtar", OBOR, 2010, "viii, 168",
          "UNA"),
    novel("entrok", "Entrok", "Madasari, Okky", GPU, 2010, "288", "UNA"),
    novel("aku-ini-binatang-jalang", "Aku ini binatang jalang", "Anwar, Chairil", GPU, 2011,
          "xx, 136", "TBL UNA SMA1", subtitle="koleksi sajak 1942-1949", ddc="899.2211",
          literary="p"),
    novel("hujan-bulan-juni", "Hujan bulan Juni", "Damono, Sapardi Djoko", GPU, 2013, "x, 106",
          "TBL UNA", subtitle="sepilihan sajak", ddc="899.2211", literary="p"),
    novel("dilan-1990", "Dilan", "Baiq, Pidi", PASTEL, 2014, "348", "TBL SMA1 TBM",
          subtitle="dia adalah Dilanku tahun 1990"),
    novel("garis-waktu", "Garis waktu", "Besari, Fiersa", MEDIAKITA, 2016, "212", "SMA1 TBM",
          subtitle="sebuah perjalanan menghapus luka"),
    novel("sepotong-senja", "Sepotong senja untuk pacarku", "Ajidarma, Seno Gumira", GPU, 2016,
          "232", "UNA", literary="j"),
]


# ---------------------------------------------------------------- Indonesian non-fiction

ISLAM = "Islam"
NONFICTION = [
    book("fiqih-islam", "Fiqih Islam", "Rasjid, Sulaiman", SINAR_BARU, 2012, "xvi, 504",
         "TBL UNA SMA1 TBM", "297.4", "Fikih", subtitle="hukum fiqh lengkap",
         edition="Cetakan ke-57"),
    book("tasawuf-modern", "Tasawuf modern", "Hamka", REPUBLIKA, 2015, "xxviii, 384",
         "TBL UNA TBM", "297.4", "Tasawuf ; Akhlak"),
    book("falsafah-hidup", "Falsafah hidup", "Hamka", REPUBLIKA, 2015, "xxii, 378", "TBL",
         "297.5", "Etika Islam"),
    book("lembaga-hidup", "Lembaga hidup", "Hamka", REPUBLIKA, 2015, "xx, 350", "UNA", "297.5",
         "Etika Islam"),
    book("membumikan-al-quran", "Membumikan Al-Qur'an", "Shihab, M. Quraish", MIZAN, 2013,
         "xxx, 648", "TBL UNA", "297.122", "Al-Qur'an -- Tafsir ; Al-Qur'an -- Kajian",
         subtitle="fungsi dan peran wahyu dalam kehidupan masyarakat", edition="Edisi kedua"),
    book("sejarah-peradaban-islam", "Sejarah peradaban Islam", "Yatim, Badri", RAJAGRAFINDO, 2008,
         "x, 342", "UNA", "297.09", "Islam -- Sejarah ; Peradaban Islam"),
    book("metodologi-studi-islam", "Metodologi studi Islam", "Nata, Abuddin", RAJAGRAFINDO, 2011,
         "xii, 414", "UNA", "297.07", "Islam -- Studi dan pengajaran"),
    book("sirah-nabawiyah", "Sirah nabawiyah", "Mubarakfuri, Shafiyyurrahman", KAUTSAR, 2012,
         "xiv, 630", "TBL UNA TBM", "297.63", "Muhammad, Nabi, 570-632 -- Biografi",
         translated_from="ara", contributors=("Muhammad, Kathur Suhardi|penerjemah",)),
    book("budidaya-kelapa-sawit", "Budi daya kelapa sawit", "Fauzi, Yan", PENEBAR, 2012,
         "x, 236", "TBL UNA SMA1", "633.851", "Kelapa sawit -- Budi daya",
         edition="Edisi revisi", contributors=("Widyastuti, Yustina Erna|pengarang",)),
    book("padi-organik", "Budi daya padi secara organik", "Andoko, Agus", PENEBAR, 2010,
         "viii, 96", "TBL TBM", "633.18", "Padi -- Budi daya ; Pertanian organik"),
    book("pupuk", "Petunjuk penggunaan pupuk", "Lingga, Pinus", PENEBAR, 2013, "xii, 150",
         "TBL UNA", "631.8", "Pupuk ; Pemupukan", edition="Edisi revisi"),
    book("hama-penyakit", "Hama dan penyakit tanaman", "Pracaya", PENEBAR, 2008, "viii, 428",
         "UNA", "632", "Hama tanaman ; Penyakit tanaman"),
    book("pertanian-organik", "Pertanian organik", "Sutanto, Rachman", KANISIUS, 2002, "219",
         "UNA", "631.584", "Pertanian organik",
         subtitle="menuju pertanian alternatif dan berkelanjutan"),
    book("budidaya-jeruk", "Budi daya jeruk bebas penyakit", "Sarwono, Bambang", AGROMEDIA, 2009,
         "vi, 122", "TBM", "634.304", "Jeruk -- Budi daya"),
    book("hidroponik", "Hidroponik sayuran untuk hobi dan bisnis", "Lingga, Pinus", PENEBAR,
         2015, "viii, 120", "TBL SMA1 TBM", "635.0485", "Hidroponik ; Sayuran -- Budi daya"),
    book("karet", "Budi daya dan pengolahan karet", "Setiawan, Didit Heru", PENEBAR, 2014,
         "x, 160", "TBL UNA", "633.8952", "Karet -- Budi daya ; Karet -- Pengolahan"),
    book("ilmu-tanah", "Ilmu tanah", "Hardjowigeno, Sarwono", AKADEMIKA, 2010, "xii, 288", "UNA",
         "631.4", "Ilmu tanah", edition="Edisi baru"),
    book("teknologi-penangkapan", "Teknologi penangkapan ikan", "Sudirman", RINEKA, 2012,
         "xiv, 168", "TBL UNA", "639.2", "Penangkapan ikan ; Alat tangkap ikan",
         contributors=("Mallawa, Achmar|pengarang",)),
    book("alat-tangkap", "Alat penangkapan ikan di pantai timur Sumatera Utara",
         "Nasution, Syahrial", USU, 2016, "x, 214", "TBL UNA", "639.20284",
         "Alat tangkap ikan ; Perikanan -- Sumatera Utara", local=True),
    book("udang-vaname", "Budi daya udang vaname secara intensif", "Amri, Khairul", AGROMEDIA,
         2013, "viii, 152", "TBL UNA TBM", "639.543", "Udang vaname -- Budi daya"),
    book("kerapu", "Pembesaran ikan kerapu di keramba jaring apung", "Sunyoto, Pramu", PENEBAR,
         2011, "vi, 96", "UNA", "639.3774", "Ikan kerapu -- Budi daya ; Keramba jaring apung"),
    book("pengolahan-ikan", "Pengolahan dan pengawetan ikan", "Adawyah, Rabiatul", BUMI_AKSARA,
         2014, "xii, 160", "TBL UNA", "664.94", "Ikan -- Pengolahan ; Ikan -- Pengawetan"),
    book("ikan-asin", "Usaha pengolahan ikan asin dan ikan asap", "Margono, Tri", PENEBAR, 2012,
         "viii, 84", "TBL TBM", "664.9428", "Ikan asin ; Ikan asap ; Usaha kecil"),
    book("rumput-laut", "Rumput laut", "Anggadiredja, Jana T.", PENEBAR, 2011, "viii, 148", "UNA",
         "639.89", "Rumput laut -- Budi daya",
         subtitle="pembudidayaan, pengolahan, dan pemasaran komoditas perikanan potensial"),
    book("kepiting-bakau", "Budi daya kepiting bakau", "Siregar, Ahmad Fauzi", USU, 2018,
         "x, 132", "TBL UNA TBM", "639.56", "Kepiting bakau -- Budi daya"),
    book("kerang-darah", "Potensi kerang darah di perairan Tanjungbalai", "Lubis, Nurhayati",
         USU, 2019, "xiv, 96", "TBL UNA", "639.42095981",
         "Kerang -- Tanjungbalai ; Sumber daya perikanan -- Tanjungbalai", local=True,
         summary="Hasil penelitian tentang sebaran, musim panen, dan nilai ekonomi kerang darah "
         "di muara Sungai Asahan."),
    book("pelabuhan-perikanan", "Pengelolaan pelabuhan perikanan", "Lubis, Ernani", IPB, 2012,
         "xii, 240", "UNA", "387.1", "Pelabuhan perikanan -- Manajemen"),
    book("nelayan-tanjungbalai", "Kehidupan nelayan Tanjungbalai", "Harahap, Rizal", USU, 2017,
         "xii, 188", "TBL UNA", "305.9639", "Nelayan -- Tanjungbalai ; Masyarakat pesisir",
         subtitle="kajian sosial ekonomi masyarakat pesisir", local=True),
    book("mangrove-sumut", "Ekosistem mangrove di pantai timur Sumatera Utara",
         "Simanjuntak, Rosita", USU, 2016, "x, 176", "UNA", "577.698",
         "Mangrove -- Sumatera Utara ; Ekologi pesisir"),
    book("adat-melayu-asahan", "Adat istiadat Melayu Asahan", "Nasution, Syafaruddin", MABMI,
         2015, "xvi, 240", "TBL UNA TBM", "390.0959812", "Adat istiadat Melayu -- Asahan",
         local=True),
    book("sejarah-kesultanan-asahan", "Sejarah Kesultanan Asahan", "Syah, Tengku Ridwan", PEMKO,
         2014, "xii, 196", "TBL UNA SMA1", "959.812", "Asahan (Kesultanan) -- Sejarah",
         local=True),
    book("tanjungbalai-masa-ke-masa", "Tanjungbalai dari masa ke masa", "Sitorus, Marwan", PEMKO,
         2017, "xviii, 264", "TBL UNA SMA1 TBM", "959.8121", "Tanjungbalai -- Sejarah",
         subtitle="sejarah kota pelabuhan di muara Sungai Asahan", local=True,
         summary="Riwayat Tanjungbalai dari bandar Kesultanan Asahan, masa perkebunan dan "
         "pelabuhan kolonial, hingga kota nelayan masa kini."),
    book("pantun-melayu", "Pantun Melayu pesisir", "Daulay, Zainal Arifin", MABMI, 2016,
         "xx, 310", "TBL UNA", "899.281", "Pantun ; Sastra Melayu",
         subtitle="himpunan dan kajian", literary="p"),
    book("serampang-dua-belas", "Tari Serampang Dua Belas", "Rangkuti, Fadillah", USU, 2013,
         "viii, 120", "TBL SMA1", "793.3195981", "Tari Melayu", subtitle="sejarah dan teknik"),
    book("kuliner-melayu", "Kuliner Melayu pesisir timur Sumatera", "Hanum, Latifah", GPU, 2018,
         "160", "TBL TBM", "641.595981", "Masakan Melayu"),
    book("revolusi-sosial", "Revolusi sosial di Sumatera Timur 1946", "Hasibuan, Bahrum", KOMBAM,
         2015, "xxiv, 320", "TBL UNA", "959.8103", "Sumatera Timur -- Sejarah -- 1945-1950",
         local=True),
    book("sulalatus-salatin", "Sulalatus salatin", None, DBP, 2015, "lii, 342", "TBL UNA",
         "899.28", "Sastra Melayu klasik ; Melayu -- Sejarah", subtitle="sejarah Melayu",
         lang="may", edition="Edisi pelajar", contributors=("Ahmad, A. Samad|penyunting",),
         notes=("Edisi teks yang disusun dari beberapa naskah; bukan naskah asli.",)),
    book("hikayat-hang-tuah-dbp", "Hikayat Hang Tuah", None, DBP, 1997, "xxxviii, 584",
         "TBL UNA", "899.23", "Sastra Melayu klasik ; Hikayat", lang="may",
         contributors=("Ahmad, Kassim|penyunting",), literary="1"),
    book("menjinakkan-sang-kuli", "Menjinakkan sang kuli", "Breman, Jan", GRAFITI, 1997,
         "xxxvi, 390", "TBL UNA", "331.544095981",
         "Buruh perkebunan -- Sumatera Timur ; Perkebunan -- Sejarah", translated_from="dut",
         subtitle="politik kolonial, tuan kebun, dan kuli di Sumatra Timur pada awal abad ke-20"),
    book("sejarah-indonesia-modern", "Sejarah Indonesia modern 1200-2008", "Ricklefs, M. C.",
         SERAMBI, 2008, "xxviii, 888", "TBL UNA SMA1", "959.8", "Indonesia -- Sejarah",
         translated_from="eng", contributors=("Wahono, Tim|penerjemah",)),
    book("nusantara-vlekke", "Nusantara", "Vlekke, Bernard H. M.", KPG, 2008, "xxii, 530", "UNA",
         "959.8", "Indonesia -- Sejarah", subtitle="sejarah Indonesia", translated_from="eng"),
    book("habis-gelap", "Habis gelap terbitlah terang", "Kartini, R. A.", BALAI, 2008,
         "xxviii, 210", "TBL SMA1 TBM", "920.72", "Kartini, Raden Ajeng, 1879-1904 -- Surat",
         contributors=("Pane, Armijn|penerjemah",), translated_from="dut"),
    book("madilog", "Madilog", "Malaka, Tan", NARASI, 2014, "xx, 564", "TBL UNA", "146.32",
         "Materialisme dialektis ; Logika", subtitle="materialisme, dialektika, logika"),
    book("metode-penelitian-sugiyono", "Metode penelitian kuantitatif, kualitatif, dan R&D",
         "Sugiyono", ALFABETA, 2017, "xiv, 334", "TBL UNA", "001.42", "Penelitian -- Metodologi",
         edition="Cetakan ke-26"),
    book("statistika-penelitian", "Statistika untuk penelitian", "Sugiyono", ALFABETA, 2015,
         "xii, 390", "UNA", "519.5", "Statistika"),
    book("mikroekonomi", "Pengantar teori mikroekonomi", "Sukirno, Sadono", RAJAGRAFINDO, 2013,
         "xx, 458", "UNA", "338.5", "Mikroekonomi", edition="Edisi ketiga"),
    book("manajemen-sdm", "Manajemen sumber daya manusia", "Hasibuan, Malayu S. P.",
         BUMI_AKSARA, 2016, "viii, 276", "UNA", "658.3", "Manajemen personalia",
         edition="Edisi revisi"),
    book("pendidikan-karakter", "Manajemen pendidikan karakter", "Mulyasa, E.", BUMI_AKSARA,
         2014, "viii, 240", "UNA SMA1", "370.114", "Pendidikan karakter"),
    book("kbbi-4", "Kamus besar bahasa Indonesia", None, GPU_OLD, 2008, "xl, 1701",
         "TBL UNA SMA1 TBM", "499.2213", "Bahasa Indonesia -- Kamus", edition="Edisi keempat",
         contributors=("Pusat Bahasa (Indonesia)|pengarang",), reference=True),
    book("kamus-inggris-indonesia", "Kamus Inggris-Indonesia", "Echols, John M.", GPU, 2014,
         "xii, 660", "TBL UNA SMA1 TBM", "423.99221", "Bahasa Inggris -- Kamus -- Bahasa Indonesia",
         subtitle="an English-Indonesian dictionary", edition="Edisi yang diperbarui",
         contributors=("Shadily, Hassan|pengarang",), reference=True),
    book("tanjungbalai-dalam-angka", "Kota Tanjungbalai dalam angka 2023", None, BPS, 2023,
         "xxviii, 312", "TBL UNA", "315.98121", "Tanjungbalai -- Statistik", local=True,
         contributors=("Badan Pusat Statistik Kota Tanjungbalai|pengarang",), reference=True),
    book("filsafat-ilmu", "Filsafat ilmu", "Suriasumantri, Jujun S.", SINAR_HARAPAN, 2009, "384",
         "UNA", "501", "Ilmu pengetahuan -- Filsafat", subtitle="sebuah pengantar populer"),
    book("sapiens-id", "Sapiens", "Harari, Yuval Noah", KPG, 2017, "xvi, 520", "TBL UNA",
         "909", "Peradaban -- Sejarah ; Manusia -- Evolusi",
         subtitle="riwayat singkat umat manusia", translated_from="eng"),
    book("filosofi-teras", "Filosofi teras", "Manampiring, Henry", KOMPAS, 2018, "xxiv, 320",
         "TBL UNA SMA1 TBM", "188", "Stoikisme ; Pengembangan diri",
         subtitle="filsafat Yunani-Romawi kuno untuk mental tangguh masa kini"),
    book("atomic-habits-id", "Atomic habits", "Clear, James", GPU, 2019, "xii, 352",
         "TBL SMA1 TBM", "158.1", "Kebiasaan ; Pengembangan diri",
         subtitle="perubahan kecil yang memberikan hasil luar biasa", translated_from="eng"),
]

# Multi-volume sets: each volume is an edition of its own, and every volume
# carries the same set ISBN as well as (where the publisher gave one) its own.
VOLUMES = [
    book("riyadhus-shalihin-1", "Terjemah riyadhus shalihin", "Nawawi, Yahya ibn Sharaf", KAUTSAR,
         2014, "xvi, 620", "TBL UNA TBM", "297.124", "Hadis", volume="Jilid 1",
         set_key="riyadhus-shalihin", translated_from="ara"),
    book("riyadhus-shalihin-2", "Terjemah riyadhus shalihin", "Nawawi, Yahya ibn Sharaf", KAUTSAR,
         2014, "xii, 598", "TBL UNA", "297.124", "Hadis", volume="Jilid 2",
         set_key="riyadhus-shalihin", translated_from="ara"),
    book("al-mishbah-1", "Tafsir al-Mishbah", "Shihab, M. Quraish", LENTERA_HATI, 2017,
         "xxxii, 652", "TBL UNA", "297.1227", "Al-Qur'an -- Tafsir", volume="Volume 1",
         volume_title="Surah al-Fatihah, surah al-Baqarah", set_key="al-mishbah",
         subtitle="pesan, kesan, dan keserasian al-Qur'an", edition="Edisi revisi"),
    book("al-mishbah-2", "Tafsir al-Mishbah", "Shihab, M. Quraish", LENTERA_HATI, 2017,
         "xii, 702", "TBL UNA", "297.1227", "Al-Qur'an -- Tafsir", volume="Volume 2",
         volume_title="Surah Ali 'Imran, surah an-Nisa'", set_key="al-mishbah",
         subtitle="pesan, kesan, dan keserasian al-Qur'an", edition="Edisi revisi"),
    book("al-mishbah-3", "Tafsir al-Mishbah", "Shihab, M. Quraish", LENTERA_HATI, 2017,
         "xii, 584", "UNA", "297.1227", "Al-Qur'an -- Tafsir", volume="Volume 3",
         volume_title="Surah al-Ma'idah", set_key="al-mishbah",
         subtitle="pesan, kesan, dan keserasian al-Qur'an", edition="Edisi revisi"),
    book("tafsir-al-azhar-1", "Tafsir al-Azhar", "Hamka", GEMA, 2015, "xlviii, 620", "UNA TBM",
         "297.1227", "Al-Qur'an -- Tafsir", volume="Jilid 1", set_key="tafsir-al-azhar"),
    book("tafsir-al-azhar-2", "Tafsir al-Azhar", "Hamka", GEMA, 2015, "xii, 640", "UNA",
         "297.1227", "Al-Qur'an -- Tafsir", volume="Jilid 2", set_key="tafsir-al-azhar"),
    book("age-of-commerce-1", "Southeast Asia in the age of commerce, 1450-1680", "Reid, Anthony",
         YALE, 1988, "xvii, 275", "UNA", "959", "Southeast Asia -- History",
         volume="Volume one", volume_title="The lands below the winds", lang="eng"),
    book("age-of-commerce-2", "Southeast Asia in the age of commerce, 1450-1680", "Reid, Anthony",
         YALE, 1993, "xvi, 390", "TBL UNA", "959", "Southeast Asia -- History",
         volume="Volume two", volume_title="Expansion and crisis", lang="eng"),
]

# School textbooks: one per subject and grade. The ministry prints a
# "jilid lengkap" ISBN for the whole subject beside each grade's own.
TEXTBOOK_SUBJECTS = [
    ("Matematika", "510", "Matematika -- Buku pelajaran"),
    ("Fisika", "530", "Fisika -- Buku pelajaran"),
    ("Kimia", "540", "Kimia -- Buku pelajaran"),
    ("Biologi", "570", "Biologi -- Buku pelajaran"),
    ("Bahasa Indonesia", "499.2215", "Bahasa Indonesia -- Buku pelajaran"),
    ("Bahasa Inggris", "428.24", "Bahasa Inggris -- Buku pelajaran"),
    ("Sejarah Indonesia", "959.8", "Indonesia -- Sejarah -- Buku pelajaran"),
    ("Pendidikan Pancasila dan Kewarganegaraan", "323.6", "Kewarganegaraan -- Buku pelajaran"),
    ("Ekonomi", "330", "Ekonomi -- Buku pelajaran"),
    ("Geografi", "910", "Geografi -- Buku pelajaran"),
    ("Pendidikan Agama Islam dan Budi Pekerti", "297.07", "Pendidikan agama Islam"),
]
GRADES = {"X": "xii, 316", "XI": "xiv, 340", "XII": "x, 296"}
# Which partners besides the school hold which textbooks.
TEXTBOOKS_ALSO_AT = {
    ("Matematika", "X"): "TBL TBM",
    ("Bahasa Indonesia", "X"): "TBL TBM",
    ("Biologi", "X"): "TBL",
    ("Fisika", "X"): "TBL",
    ("Bahasa Inggris", "X"): "TBL",
    ("Sejarah Indonesia", "X"): "TBL",
}


def textbooks() -> list[Edition]:
    """Every subject in every grade, held by the school and sometimes elsewhere."""
    editions = []
    for subject, ddc, heading in TEXTBOOK_SUBJECTS:
        slug = subject.lower().replace(" ", "-")
        for grade, pages in GRADES.items():
            held = ("SMA1 " + TEXTBOOKS_ALSO_AT.get((subject, grade), "")).strip()
            editions.append(book(
                f"buku-siswa-{slug}-{grade.lower()}", f"{subject} SMA/MA/SMK/MAK", None,
                KEMDIKBUD, 2017, pages, held, ddc, heading, volume=f"Kelas {grade}",
                set_key=f"buku-siswa-{slug}", edition="Edisi revisi 2017",
                series="Kurikulum 2013", audience="d",
                contributors=("Indonesia. Kementerian Pendidikan dan Kebudayaan|pengarang",)))
    return editions


# ---------------------------------------------------------------- English academic books


def english(key: str, title: str, author: str | None, pub: Publisher, year: int, pages: str,
            held: str, ddc: str, subjects: str, **extra: Any) -> Edition:
    """An English-language book with Library of Congress style subjects."""
    extra.setdefault("lang", "eng")
    return book(key, title, author, pub, year, pages, held, ddc, subjects, **extra)


ENGLISH = [
    english("imagined-communities", "Imagined communities", "Anderson, Benedict", VERSO, 2006,
            "xv, 240", "TBL UNA", "320.54", "Nationalism -- History",
            subtitle="reflections on the origin and spread of nationalism",
            edition="Revised edition"),
    english("religion-of-java", "The religion of Java", "Geertz, Clifford", UCHICAGO, 1976,
            "xi, 392", "UNA", "299.5922", "Java (Indonesia) -- Religion"),
    english("interpretation-of-cultures", "The interpretation of cultures", "Geertz, Clifford",
            BASIC, 1973, "ix, 470", "UNA", "301.2", "Culture ; Ethnology",
            subtitle="selected essays"),
    english("history-modern-indonesia", "A history of modern Indonesia since c. 1200",
            "Ricklefs, M. C.", PALGRAVE, 2008, "xvi, 536", "TBL UNA", "959.8",
            "Indonesia -- History", edition="4th edition"),
    english("the-malays", "The Malays", "Milner, Anthony", BLACKWELL, 2008, "xiv, 318", "UNA",
            "305.89928", "Malays (Asian people) -- History", series="The peoples of South-East "
            "Asia and the Pacific"),
    english("history-of-malaysia", "A history of Malaysia", "Andaya, Barbara Watson", PALGRAVE,
            2017, "xxii, 432", "UNA", "959.5", "Malaysia -- History", edition="Third edition",
            contributors=("Andaya, Leonard Y.|author",)),
    english("weapons-of-the-weak", "Weapons of the weak", "Scott, James C.", YALE, 1985,
            "xxii, 389", "UNA", "305.5633", "Peasants -- Malaysia ; Peasant uprisings",
            subtitle="everyday forms of peasant resistance"),
    english("capitalism-and-confrontation",
            "Capitalism and confrontation in Sumatra's plantation belt, 1870-1979",
            "Stoler, Ann Laura", UMICH, 1995, "xxvii, 264", "TBL UNA", "331.7633095981",
            "Plantation workers -- Indonesia -- Sumatera Timur ; Plantations -- History",
            edition="2nd edition", local=True),
    english("vickers-modern-indonesia", "A history of modern Indonesia", "Vickers, Adrian", CUP,
            2013, "xxiv, 308", "UNA", "959.803", "Indonesia -- History -- 20th century",
            edition="Second edition"),
    english("indonesian-manuscripts-gb", "Indonesian manuscripts in Great Britain",
            "Ricklefs, M. C.", OUP, 1977, "xxvii, 310", "UNA", "016.0910959",
            "Manuscripts, Indonesian -- Catalogs ; Manuscripts, Malay -- Catalogs",
            subtitle="a catalogue of manuscripts in Indonesian languages in British public "
            "collections", contributors=("Voorhoeve, P.|author",), reference=True),
    english("orientalism", "Orientalism", "Said, Edward W.", PENGUIN, 2003, "xxx, 396", "UNA",
            "950.072", "Orientalism ; East and West"),
    english("structure-of-revolutions", "The structure of scientific revolutions",
            "Kuhn, Thomas S.", UCHICAGO, 2012, "xlvi, 217", "UNA", "501", "Science -- Philosophy",
            edition="Fourth edition"),
    english("research-design", "Research design", "Creswell, John W.", SAGE, 2018, "xxvii, 275",
            "TBL UNA", "300.72", "Social sciences -- Research -- Methodology",
            subtitle="qualitative, quantitative, and mixed methods approaches",
            edition="Fifth edition", contributors=("Creswell, J. David|author",)),
    english("research-methods-business", "Research methods for business", "Sekaran, Uma", WILEY,
            2016, "xix, 420", "UNA", "650.072", "Business -- Research -- Methodology",
            subtitle="a skill-building approach", edition="Seventh edition",
            contributors=("Bougie, Roger|author",)),
    english("basic-econometrics", "Basic econometrics", "Gujarati, Damodar N.", MCGRAW, 2009,
            "xxiii, 922", "UNA", "330.015195", "Econometrics", edition="5th edition"),
    english("multivariate-data-analysis", "Multivariate data analysis", "Hair, Joseph F.",
            CENGAGE, 2019, "xviii, 813", "UNA", "519.535", "Multivariate analysis",
            edition="Eighth edition"),
    english("discovering-statistics", "Discovering statistics using IBM SPSS statistics",
            "Field, Andy", SAGE_UK, 2018, "xxviii, 1070", "UNA", "519.50285",
            "Social sciences -- Statistical methods -- Computer programs", edition="5th edition"),
    english("principles-of-economics", "Principles of economics", "Mankiw, N. Gregory", CENGAGE,
            2018, "xxvii, 836", "UNA", "330", "Economics", edition="Eighth edition"),
    english("marketing-management", "Marketing management", "Kotler, Philip", PEARSON, 2016,
            "xxvii, 692", "UNA", "658.8", "Marketing -- Management", edition="15th edition",
            contributors=("Keller, Kevin Lane|author",)),
    english("organizational-behavior", "Organizational behavior", "Robbins, Stephen P.", PEARSON,
            2019, "xxvi, 694", "UNA", "658.3", "Organizational behavior",
            edition="Eighteenth edition", contributors=("Judge, Timothy A.|author",)),
    english("introduction-to-algorithms", "Introduction to algorithms", "Cormen, Thomas H.", MIT,
            2009, "xix, 1292", "UNA", "005.1", "Computer programming ; Computer algorithms",
            edition="Third edition"),
    english("campbell-biology", "Campbell biology", "Urry, Lisa A.", PEARSON, 2017,
            "xlix, 1488", "UNA SMA1", "570", "Biology", edition="Eleventh edition"),
    english("calculus-early-transcendentals", "Calculus", "Stewart, James", CENGAGE, 2016,
            "xxviii, 1368", "UNA", "515", "Calculus", subtitle="early transcendentals",
            edition="Eighth edition"),
    english("nature-of-soils", "The nature and properties of soils", "Weil, Ray R.", PEARSON,
            2017, "xvii, 1086", "UNA", "631.4", "Soil science", edition="Fifteenth edition",
            contributors=("Brady, Nyle C.|author",)),
    english("aquaculture", "Aquaculture", "Lucas, John S.", BLACKWELL, 2012, "xiv, 629", "UNA",
            "639.8", "Aquaculture", subtitle="farming aquatic animals and plants",
            edition="2nd edition", contributors=("Southgate, Paul C.|editor",)),
    english("tropical-fish-stock", "Introduction to tropical fish stock assessment",
            "Sparre, Per", FAO, 1998, "xii, 407", "UNA", "639.2", "Fish populations -- Tropics",
            series="FAO fisheries technical paper ; 306/1", edition="Revision 2",
            contributors=("Venema, Siebren C.|author",)),
    english("code-of-conduct-fisheries", "Code of conduct for responsible fisheries", None, FAO,
            1995, "v, 41", "TBL UNA", "338.3727", "Fishery management -- International cooperation",
            contributors=("Food and Agriculture Organization of the United Nations|issuing body",)),
    english("seafood-processing", "Seafood processing", "Boziaris, Ioannis S.", BLACKWELL, 2014,
            "xx, 484", "UNA", "664.94", "Seafood -- Processing",
            subtitle="technology, quality and safety"),
    english("mangrove-ecology", "Mangrove ecology, silviculture and conservation",
            "Saenger, Peter", SPRINGER, 2002, "xiv, 360", "UNA", "577.698", "Mangrove ecology"),
    english("oil-palm", "The oil palm", "Corley, R. H. V.", BLACKWELL, 2016, "xxvii, 639",
            "TBL UNA", "633.851", "Oil palm", edition="Fifth edition",
            contributors=("Tinker, P. B.|author",)),
    english("indonesian-grammar", "Indonesian", "Sneddon, James Neil", ROUTLEDGE, 2010,
            "xxxii, 432", "UNA", "499.2215", "Indonesian language -- Grammar",
            subtitle="a comprehensive grammar", edition="2nd edition"),
    english("thinking-fast-slow", "Thinking, fast and slow", "Kahneman, Daniel", PENGUIN, 2012,
            "499", "TBL UNA", "153.42", "Thought and thinking ; Decision making"),
    english("sapiens-en", "Sapiens", "Harari, Yuval Noah", VINTAGE, 2015, "498", "TBL UNA", "909",
            "Civilization -- History ; Human evolution", subtitle="a brief history of humankind"),
    english("how-to-teach-english", "How to teach English", "Harmer, Jeremy", PEARSON, 2007,
            "x, 288", "UNA SMA1", "428.0071", "English language -- Study and teaching",
            edition="New edition"),
    english("practical-english-usage", "Practical English usage", "Swan, Michael", OUP, 2016,
            "xxxii, 620", "TBL UNA SMA1", "428.24", "English language -- Usage",
            edition="Fourth edition", reference=True),
    english("grammar-in-use-5", "English grammar in use", "Murphy, Raymond", CUP, 2019, "x, 380",
            "TBL UNA SMA1 TBM", "428.24", "English language -- Grammar",
            subtitle="a self-study reference and practice book for intermediate learners of "
            "English", edition="Fifth edition"),
    english("oxford-learners", "Oxford advanced learner's dictionary of current English",
            "Hornby, A. S.", OUP, 2015, "xxii, 1796", "TBL UNA SMA1", "423",
            "English language -- Dictionaries", edition="Ninth edition", reference=True),
    english("guns-germs-steel", "Guns, germs, and steel", "Diamond, Jared", NORTON, 2005, "425",
            "UNA", "303.4", "Social evolution ; Civilization -- History",
            subtitle="the fates of human societies"),
    english("marine-fisheries-ecology", "Marine fisheries ecology", "Jennings, Simon", BLACKWELL,
            2001, "x, 417", "UNA", "333.956", "Fishery management ; Marine ecology",
            contributors=("Kaiser, Michel J.|author", "Reynolds, John D.|author")),
]


# ---------------------------------------------------------------- children's books


def children(key: str, title: str, author: str | None, pub: Publisher, year: int, pages: str,
             held: str, ddc: str = "398.2", subjects: str = "Cerita rakyat",
             **extra: Any) -> Edition:
    """A book for children: juvenile audience in 008/22."""
    extra.setdefault("audience", "j")
    return book(key, title, author, pub, year, pages, held, ddc, subjects, **extra)


CHILDREN = [
    children("kancil-buaya", "Si Kancil dan buaya", "Rahmawati, Tuti", BIP, 2017, "24",
             "TBL TBM SMA1", series="Seri cerita binatang Nusantara"),
    children("malin-kundang", "Malin Kundang", "Rahmawati, Tuti", BIP, 2016, "32", "TBL TBM",
             series="Seri cerita rakyat Nusantara"),
    children("bawang-merah", "Bawang merah bawang putih", "Rahmawati, Tuti", BIP, 2016, "32",
             "TBL TBM", series="Seri cerita rakyat Nusantara"),
    children("cerita-rakyat-sumut", "Cerita rakyat dari Sumatera Utara", "Siregar, Rosmawati",
             GRASINDO, 2012, "viii, 120", "TBL TBM SMA1",
             subjects="Cerita rakyat -- Sumatera Utara"),
    children("legenda-sungai-asahan", "Legenda Sungai Asahan", "Simatupang, Lenny", BALAI_BAHASA,
             2019, "iv, 40", "TBL TBM", subjects="Cerita rakyat -- Asahan",
             series="Bahan bacaan literasi", local=True),
    children("puteri-hijau", "Legenda Puteri Hijau", "Tarigan, Maya", BALAI_BAHASA, 2018,
             "iv, 36", "TBL TBM", subjects="Cerita rakyat -- Sumatera Utara",
             series="Bahan bacaan literasi"),
    children("nelayan-kecil", "Nelayan kecil dari Tanjungbalai", "Pardede, Ruth", BALAI_BAHASA,
             2020, "iv, 32", "TBL TBM", ddc="899.2213", subjects="Cerita anak",
             series="Bahan bacaan literasi", literary="1", local=True),
    children("kerang-ajaib", "Kerang ajaib Pantai Sei Nangka", "Pardede, Ruth", BALAI_BAHASA,
             2021, "iv, 28", "TBM", ddc="899.2213", subjects="Cerita anak",
             series="Bahan bacaan literasi", literary="1"),
    children("hungry-caterpillar", "The very hungry caterpillar", "Carle, Eric", PHILOMEL, 1987,
             "1 volume (unpaged)", "TBL TBM", ddc="813.54", subjects="Caterpillars -- Juvenile "
             "fiction", lang="eng", literary="1"),
    children("wild-things", "Where the wild things are", "Sendak, Maurice", HARPER, 2012, "48",
             "TBL", ddc="813.54", subjects="Monsters -- Juvenile fiction", lang="eng",
             literary="1"),
    children("charlottes-web", "Charlotte's web", "White, E. B.", HARPER, 2012, "184",
             "TBL SMA1", ddc="813.52", subjects="Pigs -- Juvenile fiction", lang="eng",
             literary="1"),
    children("matilda", "Matilda", "Dahl, Roald", PUFFIN, 2016, "240", "TBL SMA1 TBM",
             ddc="823.914", subjects="Gifted children -- Juvenile fiction", lang="eng",
             literary="1"),
    children("harry-potter-id", "Harry Potter dan batu bertuah", "Rowling, J. K.", GPU_OLD, 2000,
             "384", "TBL SMA1 TBM", ddc="823.914", subjects="Fiksi Inggris",
             translated_from="eng", contributors=("Mulyani, Listiana Srisanti|penerjemah",),
             literary="1", audience="d"),
    children("harry-potter-en", "Harry Potter and the philosopher's stone", "Rowling, J. K.",
             BLOOMSBURY, 2014, "342", "TBL SMA1", ddc="823.914",
             subjects="Wizards -- Juvenile fiction", lang="eng", literary="1", audience="d"),
    children("pangeran-cilik", "Pangeran cilik", "Saint-Exupéry, Antoine de", GPU, 2011, "120",
             "TBL TBM", ddc="843.912", subjects="Fiksi Prancis", translated_from="fre",
             contributors=("Chambert-Loir, Henri|penerjemah",), literary="1"),
    children("kisah-25-nabi", "Kisah 25 nabi dan rasul", "Ahmad, Nurul", DAR_MIZAN, 2014, "160",
             "TBL SMA1 TBM", ddc="297.246", subjects="Nabi-nabi -- Kisah"),
    children("aku-bisa-membaca", "Aku bisa membaca", "Kurniasih, Dewi", BIP, 2019, "48", "TBM",
             ddc="372.4", subjects="Membaca -- Buku pelajaran", audience="a"),
    children("sahabat-negeri-pantai", "Sahabat dari negeri pantai", "Putri, Nayla", DAR_MIZAN,
             2015, "120", "TBL TBM", ddc="899.2213", subjects="Cerita anak",
             series="Kecil-kecil punya karya", literary="1"),
    children("ensiklopedia-laut", "Ensiklopedia anak", "Wardhani, Ratna", BIP, 2018, "64",
             "TBL TBM", ddc="551.46", subjects="Laut -- Ensiklopedia anak",
             subtitle="dunia laut", reference=True),
    children("dongeng-nusantara", "Kumpulan dongeng Nusantara", "Susanti, Rina", KANAK, 2014,
             "96", "TBL TBM"),
    children("wimpy-kid", "Diary of a wimpy kid", "Kinney, Jeff", AMULET, 2007, "217",
             "TBL SMA1", ddc="813.6", subjects="Middle schools -- Juvenile fiction", lang="eng",
             literary="1", audience="c"),
]


# ---------------------------------------------------------------- other editions of the same work

# (edition it differs from, new key, what differs). Same title and author,
# a different edition: these must stay apart from their namesakes.
VARIANTS: list[tuple[str, str, dict[str, Any]]] = [
    ("laskar-pelangi", "laskar-pelangi-2020", dict(
        publisher=BENTANG, year=2020, pages="xxxii, 534", holders=holders("TBL UNA"),
        edition="Edisi 15 tahun", summary="")),
    ("budidaya-kelapa-sawit", "budidaya-kelapa-sawit-2017", dict(
        year=2017, pages="xii, 252", holders=holders("UNA"), edition="Edisi revisi, cetakan 3")),
    ("metode-penelitian-sugiyono", "metode-penelitian-sugiyono-2013", dict(
        year=2013, holders=holders("UNA SMA1"), edition="Cetakan ke-19")),
    ("research-design", "research-design-4", dict(
        year=2014, pages="xxix, 273", holders=holders("UNA"), edition="Fourth edition")),
    ("kbbi-4", "kbbi-5", dict(
        publisher=p("Badan Pengembangan dan Pembinaan Bahasa", "Badan Bahasa", "Jakarta", "io ",
                    "978-979-069"),
        year=2016, pages="xlviii, 2040", holders=holders("TBL UNA"), edition="Edisi kelima",
        contributors=("Badan Pengembangan dan Pembinaan Bahasa (Indonesia)|pengarang",))),
    ("grammar-in-use-5", "grammar-in-use-4", dict(
        year=2012, holders=holders("SMA1 TBM"), edition="Fourth edition")),
    ("hafalan-shalat-delisa", "hafalan-shalat-delisa-2005", dict(
        publisher=REPUBLIKA_OLD, year=2005, pages="vi, 270", holders=holders("TBM"),
        edition="Cetakan ke-1")),
    ("tenggelamnya-kapal", "tenggelamnya-kapal-2017", dict(
        publisher=GEMA, year=2017, pages="xii, 272", holders=holders("UNA"), edition="")),
]


# ---------------------------------------------------------------- e-books and digital copies

# (print edition, new key, publisher or None for the same, year, holders, link, file type).
# An e-book is its own edition with its own ISBN; it names the print ISBN in 776.
EBOOKS = [
    ("laskar-pelangi-2020", "laskar-pelangi-eb", None, 2020, "TBL UNA",
     "https://ipusnas.id/book/laskar-pelangi-edisi-15-tahun", "EPUB"),
    ("bumi-manusia", "bumi-manusia-eb", None, 2015, "UNA",
     "https://ebooks.gramedia.com/books/bumi-manusia", "EPUB"),
    ("hujan", "hujan-eb", None, 2016, "TBL UNA", "https://ipusnas.id/book/hujan-tere-liye", "EPUB"),
    ("negeri-5-menara", "negeri-5-menara-eb", None, 2013, "UNA",
     "https://ebooks.gramedia.com/books/negeri-5-menara", "EPUB"),
    ("aroma-karsa", "aroma-karsa-eb", None, 2018, "UNA",
     "https://play.google.com/store/books/details?id=aromakarsa2018", "EPUB"),
    ("filosofi-teras", "filosofi-teras-eb", None, 2019, "TBL UNA",
     "https://ipusnas.id/book/filosofi-teras", "EPUB"),
    ("imagined-communities", "imagined-communities-eb", None, 2016, "UNA",
     "https://www.versobooks.com/products/imagined-communities-ebook", "EPUB"),
    ("indonesian-grammar", "indonesian-grammar-eb", None, 2010, "UNA",
     "https://www.taylorfrancis.com/books/indonesian-comprehensive-grammar", "PDF"),
    ("research-design", "research-design-eb", None, 2018, "UNA",
     "https://study.sagepub.com/creswellrd5e", "PDF"),
    ("tanjungbalai-masa-ke-masa", "tanjungbalai-masa-ke-masa-eb", None, 2018, "TBL",
     "https://perpustakaan.tanjungbalaikota.go.id/ebook/tanjungbalai-dari-masa-ke-masa.pdf",
     "PDF"),
    ("legenda-sungai-asahan", "legenda-sungai-asahan-eb", None, 2019, "TBL",
     "https://budi.kemdikbud.go.id/buku/legenda-sungai-asahan", "PDF"),
    ("nelayan-kecil", "nelayan-kecil-eb", None, 2020, "TBL TBM",
     "https://budi.kemdikbud.go.id/buku/nelayan-kecil-dari-tanjungbalai", "PDF"),
    ("buku-siswa-matematika-x", "buku-siswa-matematika-x-eb", None, 2017, "SMA1",
     "https://buku.kemdikbud.go.id/katalog/matematika-sma-kelas-x", "PDF"),
    ("buku-siswa-bahasa-indonesia-x", "buku-siswa-bahasa-indonesia-x-eb", None, 2017, "SMA1",
     "https://buku.kemdikbud.go.id/katalog/bahasa-indonesia-sma-kelas-x", "PDF"),
    ("buku-siswa-biologi-x", "buku-siswa-biologi-x-eb", None, 2017, "SMA1",
     "https://buku.kemdikbud.go.id/katalog/biologi-sma-kelas-x", "PDF"),
]

# Open-access e-books that have no print edition in the pool.
OPEN_ACCESS = [
    english("small-scale-fisheries-malacca", "Small-scale fisheries in the Strait of Malacca",
            None, ISEAS, 2021, "", "UNA", "338.3727", "Fisheries -- Strait of Malacca",
            subtitle="livelihoods and governance", kind="ebook",
            extent="1 online resource (xii, 284 pages)",
            contributors=("Yusuf, Arif|editor", "Chong, Wei Lin|editor"),
            url="https://library.oapen.org/handle/20.500.12657/47112"),
    english("oil-palm-landscapes", "Oil palm landscapes of Sumatra", "Hutagalung, Daniel", NUS,
            2020, "", "UNA", "338.17385109598", "Oil palm industry -- Indonesia -- Sumatra",
            subtitle="land, labour and the plantation frontier", kind="ebook",
            extent="1 online resource (xvi, 248 pages)",
            url="https://library.oapen.org/handle/20.500.12657/39981"),
    english("malay-manuscript-traditions", "Malay manuscript traditions", None, NUS, 2019, "",
            "UNA TBL", "091.09595", "Manuscripts, Malay ; Jawi script",
            subtitle="a reader", kind="ebook", extent="1 online resource (x, 212 pages)",
            contributors=("Rahman, Siti Aisyah|editor",),
            url="https://library.oapen.org/handle/20.500.12657/30417"),
]


# ---------------------------------------------------------------- online courses catalogued as MARC


def course(key: str, title: str, held: str, year: int, url: str, summary: str,
           subjects: str, **extra: Any) -> Edition:
    """An online course on SPADA Indonesia, catalogued by hand as a remote resource."""
    return Edition(key=key, title=title, author=None, publisher=SPADA, year=year, pages="",
                   holders=holders(held), ddc=str(extra.pop("ddc", "378.1758")),
                   subjects=tuple(subjects.split(" ; ")), kind="course", url=url,
                   summary=summary, isbn="none", extent="1 sumber daring", **extra)


COURSES = [
    course("kursus-budidaya-pesisir", "Budidaya perikanan pesisir", "UNA", 2024,
           "https://spada.kemdikbud.go.id/course/view.php?id=41822",
           "Kuliah daring 14 pertemuan tentang pemilihan lokasi, pakan, dan kualitas air "
           "tambak udang dan ikan di wilayah pesisir.", "Akuakultur ; Budi daya perikanan",
           contributors=("Universitas Asahan. Fakultas Perikanan|penyelenggara",)),
    course("kursus-literasi-informasi", "Literasi informasi untuk mahasiswa", "TBL UNA", 2023,
           "https://spada.kemdikbud.go.id/course/view.php?id=38310",
           "Cara mencari, menilai, dan mengutip sumber informasi untuk tugas kuliah.",
           "Literasi informasi ; Keterampilan belajar",
           contributors=("Universitas Asahan. Perpustakaan|penyelenggara",)),
    course("kursus-bahasa-indonesia-akademik", "Bahasa Indonesia akademik", "UNA", 2024,
           "https://spada.kemdikbud.go.id/course/view.php?id=40105",
           "Menulis karya ilmiah dalam bahasa Indonesia baku: paragraf, kutipan, dan daftar "
           "pustaka.", "Bahasa Indonesia -- Penulisan ilmiah", ddc="808.0663"),
    course("kursus-pengolahan-hasil-perikanan", "Pengolahan hasil perikanan tradisional", "TBL",
           2023, "https://spada.kemdikbud.go.id/course/view.php?id=37765",
           "Pelatihan daring pengasinan, pengasapan, dan pengemasan ikan untuk kelompok "
           "pengolah di kampung nelayan.", "Ikan -- Pengolahan ; Pelatihan daring", ddc="664.94"),
    course("kursus-kewirausahaan-umkm", "Kewirausahaan digital bagi pelaku UMKM pesisir",
           "TBL TBM", 2024, "https://spada.kemdikbud.go.id/course/view.php?id=42257",
           "Pelatihan daring pemasaran produk olahan laut lewat lokapasar dan media sosial.",
           "Kewirausahaan ; Usaha kecil dan menengah ; Pelatihan daring", ddc="658.11"),
]


# ---------------------------------------------------------------- rare: manuscripts in Jawi script


def manuscript(key: str, title: str, dates: str, leaves: str, held: str, subjects: str,
               **extra: Any) -> Edition:
    """A Malay manuscript in Jawi script; `dates` is 008/06-14, e.g. "q18001850"."""
    extra.setdefault("lang", "may")
    extra.setdefault("literary", "1" if title.startswith(("Hikayat", "Syair")) else "0")
    return Edition(key=key, title=title, author=None, publisher=NO_PUBLISHER,
                   year=int(dates[1:5]), pages="", holders=holders(held),
                   ddc=str(extra.pop("ddc", "899.28")), subjects=tuple(subjects.split(" ; ")),
                   kind="manuscript", isbn="none", dates=dates,
                   extent=f"1 naskah ({leaves})", cataloguing="dcrmmss", **extra)


MANUSCRIPTS = [
    manuscript("ms-hang-tuah", "Hikayat Hang Tuah", "q18001850", "412 halaman", "TBL",
               "Hikayat ; Sastra Melayu klasik", jawi="حكاية هڠ تواه",
               notes=("Kertas Eropa berwatermark Pro Patria; 19 baris per halaman.",
                      "Halaman pertama dan terakhir rusak dimakan rayap.")),
    manuscript("ms-raja-pasai", "Hikayat raja-raja Pasai", "q18141830", "128 halaman", "UNA",
               "Samudera Pasai -- Sejarah ; Hikayat", ddc="959.811"),
    manuscript("ms-sejarah-melayu", "Sejarah Melayu", "q18201840", "296 halaman", "UNA",
               "Melayu -- Sejarah ; Sastra Melayu klasik", jawi="سجاره ملايو"),
    manuscript("ms-siti-zubaidah", "Syair Siti Zubaidah", "s1861    ", "188 halaman", "TBL",
               "Syair ; Sastra Melayu klasik", jawi="شعير سيتي زبيده",
               notes=("Kolofon: selesai disalin pada bulan Rabiulakhir 1278 H.",)),
    manuscript("ms-ken-tambuhan", "Syair Ken Tambuhan", "q18501899", "96 halaman", "TBL",
               "Syair ; Sastra Melayu klasik"),
    manuscript("ms-taj-salatin", "Taj al-salatin", "q17801820", "214 halaman", "TBL",
               "Etika pemerintahan -- Islam ; Sastra kitab", jawi="تاج السلاطين", ddc="297.272",
               notes=("Tinta hitam dan merah; kertas Eropa tanpa watermark yang terbaca.",)),
    manuscript("ms-bustan-salatin", "Bustan al-salatin", "q17501799", "340 halaman", "UNA",
               "Sastra kitab ; Aceh -- Sejarah", jawi="بستان السلاطين", ddc="297.09",
               notes=("Hanya bab pertama dan kedua.",)),
    manuscript("ms-sabil-muhtadin", "Sabil al-muhtadin", "q18301870", "522 halaman", "TBL",
               "Fikih -- Mazhab Syafii ; Sastra kitab", jawi="سبيل المهتدين", ddc="297.4",
               contributors=("Arsyad al-Banjari, Muhammad|pengarang",)),
    manuscript("ms-bayan-budiman", "Hikayat Bayan Budiman", "q18501880", "160 halaman", "TBM",
               "Hikayat ; Sastra Melayu klasik", jawi="حكاية بيان بوديمان",
               notes=("Hibah keluarga almarhum Haji Abdul Rahman, Kampung Sei Raja, 2019.",)),
    manuscript("ms-indraputra", "Hikayat Indraputra", "q18201860", "248 halaman", "TBL",
               "Hikayat ; Sastra Melayu klasik"),
    manuscript("ms-amir-hamzah", "Hikayat Amir Hamzah", "q18001850", "604 halaman", "UNA",
               "Hikayat ; Sastra Melayu klasik"),
    manuscript("ms-undang-melaka", "Undang-undang Melaka", "q17901830", "88 halaman", "TBL",
               "Hukum adat Melayu ; Melaka -- Hukum", ddc="340.5259513"),
    manuscript("ms-kitab-faraid", "Kitab faraid", "q18501900", "64 halaman", "TBL",
               "Hukum waris Islam ; Sastra kitab", ddc="297.414"),
    manuscript("ms-syair-kerajaan-asahan", "Syair kerajaan Asahan", "s1886    ", "72 halaman",
               "TBL", "Asahan (Kesultanan) -- Sejarah ; Syair", local=True,
               notes=("Menceritakan penobatan sultan dan keramaian di istana Tanjungbalai.",)),
    manuscript("ms-surat-sultan-asahan", "Surat Sultan Asahan kepada Residen Sumatra Timur",
               "s1889    ", "2 lembar", "TBL", "Asahan (Kesultanan) -- Surat-menyurat",
               ddc="959.812", local=True,
               notes=("Surat bercap kerajaan, tinta hitam di atas kertas Eropa.",)),
    # A palm-leaf manuscript from Bali, part of the university's special collection.
    manuscript("ms-lontar-usada", "Usada taru pramana", "q18501920", "42 lempir", "UNA",
               "Pengobatan tradisional Bali ; Tumbuhan obat", lang="ban", ddc="615.3209598",
               notes=("Lontar, 42 lempir, ditulis dengan aksara Bali; papan pengapit kayu.",)),
    Edition(key="arsip-kesultanan-asahan", title="Arsip Kesultanan Asahan", author=None,
            publisher=NO_PUBLISHER, year=1880, pages="", holders=holders("TBL"), ddc="959.812",
            subjects=("Asahan (Kesultanan) -- Arsip",), kind="archive", isbn="none",
            dates="i18801946", lang="may", extent="3 kotak (0,4 meter linier)", local=True,
            cataloguing="dacs",
            summary="Surat-menyurat, akta tanah, dan catatan istana Kesultanan Asahan yang "
            "diserahkan ahli waris ke Pemerintah Kota Tanjungbalai."),
]


# ---------------------------------------------------------------- rare: colonial-era imprints


def colonial(key: str, title: str, pub: Publisher, year: int, pages: str, held: str,
             lang: str, subjects: str, **extra: Any) -> Edition:
    """A book printed in the Netherlands Indies before 1910."""
    return Edition(key=key, title=title, author=extra.pop("author", None), publisher=pub,
                   year=year, pages=pages, holders=holders(held),
                   ddc=str(extra.pop("ddc", "499.28")), subjects=tuple(subjects.split(" ; ")),
                   kind="colonial", isbn="none", lang=lang, **extra)


COLONIAL = [
    colonial("col-maleische-spraakkunst", "Maleische spraakkunst ten gebruike bij het onderwijs",
             LANDSDRUKKERIJ, 1826, "viii, 212", "TBL UNA", "dut", "Bahasa Melayu -- Tata bahasa",
             cataloguing="dcrmb"),
    colonial("col-kitab-pengadjaran", "Kitab pengadjaran bahasa Melajoe", LANDSDRUKKERIJ, 1847,
             "96", "UNA", "may", "Bahasa Melayu -- Buku pelajaran", cataloguing="dcrmb",
             notes=("Dicetak dengan huruf Jawi dan Latin berdampingan.",)),
    colonial("col-asahan-expeditie", "Verslag omtrent de expeditie naar Asahan", LANDSDRUKKERIJ,
             1866, "iv, 148, [2] uitslaande kaarten", "TBL UNA", "dut",
             "Asahan (Kesultanan) -- Sejarah ; Ekspedisi militer Belanda", ddc="959.812",
             local=True, cataloguing="dcrmb"),
    colonial("col-woordenboek-1", "Maleisch-Nederlandsch woordenboek", LANDSDRUKKERIJ, 1877,
             "xii, 486", "TBL UNA", "dut", "Bahasa Melayu -- Kamus -- Bahasa Belanda",
             volume="Eerste deel", set_key="col-woordenboek", ddc="499.2839"),
    colonial("col-woordenboek-2", "Maleisch-Nederlandsch woordenboek", LANDSDRUKKERIJ, 1880,
             "508", "UNA", "dut", "Bahasa Melayu -- Kamus -- Bahasa Belanda",
             volume="Tweede deel", set_key="col-woordenboek", ddc="499.2839"),
    colonial("col-regeeringsalmanak", "Regeeringsalmanak voor Nederlandsch-Indië 1883",
             LANDSDRUKKERIJ, 1883, "xxiv, 736", "UNA", "dut", "Hindia Belanda -- Pemerintahan",
             ddc="354.598"),
    colonial("col-sultan-ibrahim", "Hikajat Sultan Ibrahim bin Adham", ALBRECHT, 1891, "64", "TBL",
             "may", "Hikayat ; Sastra Melayu", ddc="899.23", literary="1"),
    colonial("col-boerong-poengoek", "Sjair boerong poengoek", ALBRECHT, 1896, "32", "TBL", "may",
             "Syair ; Sastra Melayu", ddc="899.231", literary="p", cataloguing="dcrmb"),
    colonial("col-oostkust-sumatra", "De Oostkust van Sumatra", KOLFF, 1902,
             "vi, 318, [12] platen", "TBL UNA", "dut", "Sumatera Timur -- Deskripsi dan perjalanan",
             subtitle="beschrijving van land en volk", ddc="915.981", local=True),
    colonial("col-tjerita-mas-merah", "Kitab tjerita Mas Merah", ALBRECHT, 1905, "48", "TBL",
             "may", "Cerita rakyat Melayu", ddc="899.23", literary="1"),
]

# (original, new key, holders, link, who made the copy and when).
DIGITISED = [
    ("col-maleische-spraakkunst", "col-maleische-spraakkunst-dig", "UNA",
     "https://khastara.perpusnas.go.id/landing/detail/maleische-spraakkunst-1826",
     "Jakarta : Perpustakaan Nasional Republik Indonesia, 2019"),
    ("col-asahan-expeditie", "col-asahan-expeditie-dig", "TBL UNA",
     "https://khastara.perpusnas.go.id/landing/detail/verslag-expeditie-asahan-1866",
     "Jakarta : Perpustakaan Nasional Republik Indonesia, 2020"),
    ("col-woordenboek-1", "col-woordenboek-1-dig", "UNA",
     "https://digitalcollections.universiteitleiden.nl/view/maleisch-nederlandsch-woordenboek-1",
     "Leiden : Universitaire Bibliotheken Leiden, 2017"),
    ("col-boerong-poengoek", "col-boerong-poengoek-dig", "TBL",
     "https://khastara.perpusnas.go.id/landing/detail/sjair-boerong-poengoek-1896",
     "Jakarta : Perpustakaan Nasional Republik Indonesia, 2021"),
    ("ms-hang-tuah", "ms-hang-tuah-leiden-dig", "UNA",
     "https://digitalcollections.universiteitleiden.nl/view/hikayat-hang-tuah-cod-or",
     "Leiden : Universitaire Bibliotheken Leiden, 2016"),
]


# ---------------------------------------------------------------- all editions and their ISBNs


def isbn13_check(first12: str) -> str:
    """ISBN-13 check digit: weights 1 and 3 alternate, modulo 10."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return str((10 - total % 10) % 10)


def isbn10_check(first9: str) -> str:
    """ISBN-10 check digit: weights 10 down to 2, modulo 11, 10 written X."""
    total = sum(int(d) * (10 - i) for i, d in enumerate(first9))
    check = (11 - total % 11) % 11
    return "X" if check == 10 else str(check)


def derive_isbn(prefix: str, key: str, taken: set[str]) -> str:
    """A stable invented ISBN-13 under the publisher's prefix, hyphenated.

    The item number comes from a hash of the key; a number already taken
    moves on to the next free one, so short registrant ranges never collide.
    """
    digits = prefix.replace("-", "")
    width = 12 - len(digits)
    item = int(hashlib.sha1(key.encode()).hexdigest(), 16) % 10**width
    while True:
        number = f"{item:0{width}d}"
        isbn = f"{prefix}-{number}-{isbn13_check(digits + number)}"
        if isbn not in taken:
            taken.add(isbn)
            return isbn
        item = (item + 1) % 10**width


def isbn10_of(isbn13: str) -> str:
    """The ISBN-10 form of a 978 ISBN-13, keeping its hyphens."""
    rest = isbn13.removeprefix("978-")
    first9 = rest.replace("-", "")[:9]
    return rest[: rest.rindex("-")] + "-" + isbn10_check(first9)


def isbn_of(ed: Edition) -> str | None:
    """The edition's own ISBN-13 (hyphenated), or None when it has none."""
    return None if ed.isbn in ("", "none") else ed.isbn


def set_isbn_of(ed: Edition) -> str | None:
    """The ISBN shared by every volume of a set, when the publisher gave one."""
    return ed.set_isbn or None


def printed(isbn13: str, year: int) -> str:
    """The ISBN as printed in the book: ISBN-10 before 2007, when there was one."""
    if year < 2007 and isbn13.startswith("978-"):
        return isbn10_of(isbn13)
    return isbn13


def ebook_of(base: Edition, key: str, pub: Publisher | None, year: int, held: str, url: str,
             file_type: str) -> Edition:
    """An e-book made from a print edition: new ISBN, online, pointing back to the print."""
    word = "pages" if base.lang == "eng" else "halaman"
    return replace(
        base, key=key, publisher=pub or base.publisher, year=year, holders=holders(held),
        kind="ebook", url=url, print_key=base.key, isbn="", set_key="",
        extent=f"1 online resource ({base.pages} {word})" if base.lang == "eng"
        else f"1 sumber daring ({base.pages} {word})",
        notes=(f"Berkas {file_type}.",), reference=False, edition=base.edition)


def digital_copy(base: Edition, key: str, held: str, url: str, made: str) -> Edition:
    """A digital copy of an old original: still rare, online, and not a course."""
    scanned = f"{base.pages} halaman" if base.pages else "1 naskah"
    return replace(base, key=key, holders=holders(held), url=url, digitised=made, notes=(),
                   set_key="", extent=f"1 sumber daring ({scanned})")


def all_editions() -> list[Edition]:
    """Every edition in the demo, in a fixed order, with keys and ISBNs checked unique."""
    editions = [*FICTION, *NONFICTION, *VOLUMES, *textbooks(), *ENGLISH, *CHILDREN]
    by_key = {ed.key: ed for ed in [*editions, *COLONIAL, *MANUSCRIPTS]}
    for base, key, changes in VARIANTS:
        editions.append(replace(by_key[base], key=key, **changes))
    by_key.update((ed.key, ed) for ed in editions)
    for base, key, pub, year, held, url, file_type in EBOOKS:
        editions.append(ebook_of(by_key[base], key, pub, year, held, url, file_type))
    editions += [*OPEN_ACCESS, *COURSES, *MANUSCRIPTS, *COLONIAL]
    for base, key, held, url, made in DIGITISED:
        editions.append(digital_copy(by_key[base], key, held, url, made))
    editions = with_isbns(editions)
    check_unique(editions)
    return editions


def with_isbns(editions: list[Edition]) -> list[Edition]:
    """Give each edition and each set its invented ISBN, in a fixed order."""
    taken: set[str] = set()
    sets: dict[str, str] = {}
    done = []
    for ed in editions:
        if not ed.publisher.prefix or ed.isbn == "none":
            done.append(replace(ed, isbn="none"))
            continue
        isbn = ed.isbn or derive_isbn(ed.publisher.prefix, ed.key, taken)
        if ed.set_key and ed.set_key not in sets:
            sets[ed.set_key] = derive_isbn(ed.publisher.prefix, ed.set_key, taken)
        done.append(replace(ed, isbn=isbn, set_isbn=sets.get(ed.set_key, "")))
    by_key = {ed.key: ed for ed in done}
    return [replace(ed, print_isbn=by_key[ed.print_key].isbn) if ed.print_key else ed
            for ed in done]


def check_unique(editions: list[Edition]) -> None:
    """Refuse the data when two editions share a key or an ISBN."""
    keys = [ed.key for ed in editions]
    isbns = [isbn for ed in editions if (isbn := isbn_of(ed))]
    for label, values in (("key", keys), ("ISBN", isbns)):
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            raise ValueError(f"duplicate edition {label}s: {dupes}")


def edition_holders() -> dict[str, tuple[str, ...]]:
    """The designed holdings: edition key to the partners that hold a copy."""
    return {ed.key: ed.holders for ed in all_editions()}


# ---------------------------------------------------------------- shared pieces of a record

SMALL_WORDS = {"dan", "di", "ke", "dari", "yang", "untuk", "dengan", "atau", "pada", "dalam",
               "bagi", "the", "of", "and", "a", "an", "in", "on", "to", "for", "at", "van", "der",
               "de", "het", "voor", "bij", "ten", "naar", "omtrent", "al"}
GOVERNMENT = {KEMDIKBUD.name: "f", SPADA.name: "f", BALAI_BAHASA.name: "f", PEMKO.name: "l",
              BPS.name: "l", FAO.name: "i"}
PLACES = {"Tanjungbalai", "Asahan", "Sumatera Utara", "Sumatera Timur", "Indonesia", "Malaysia",
          "Strait of Malacca", "Sumatra", "Tropics", "Melaka", "Aceh", "Java (Indonesia)",
          "Hindia Belanda", "Sumatera"}
DALUANG = {"ms-undang-melaka", "ms-kitab-faraid"}
ROLES_EN = {"pengarang": "author", "penerjemah": "translator", "penyunting": "editor",
            "penyelenggara": "issuing body"}
Fields = list[Field]


def control(tag: str, data: str) -> Field:
    """A control field (001-009)."""
    return Field(tag=tag, data=data)


def data_field(tag: str, ind: str, *pairs: tuple[str, str]) -> Field:
    """A data field; `ind` is the two indicators, subfields with empty values are left out."""
    subfields = [Subfield(code, value) for code, value in pairs if value]
    return Field(tag=tag, indicators=Indicators(ind[0], ind[1]), subfields=subfields)


def title_case(text: str) -> str:
    """Capitalise each word but the small ones, the way many local catalogues write titles."""
    words = text.split(" ")
    out = [w if i and w.lower() in SMALL_WORDS else w[:1].upper() + w[1:]
           for i, w in enumerate(words)]
    return " ".join(out)


def is_corporate(name: str) -> bool:
    """Corporate names in the data have spaces and no comma; one-word names are persons."""
    return "," not in name and " " in name


def direct(name: str) -> str:
    """'Hirata, Andrea' becomes 'Andrea Hirata'; other names stay as they are."""
    if "," not in name:
        return name
    surname, forenames = name.split(", ", 1)
    return f"{forenames} {surname}"


def responsibility(ed: Edition) -> str:
    """The statement of responsibility as a cataloguer would transcribe it."""
    people = [direct(ed.author)] if ed.author else []
    for entry in ed.contributors:
        name, role = entry.split("|")
        if not is_corporate(name):
            people.append(f"{role} {direct(name)}" if role != "pengarang" else direct(name))
    return " ; ".join(people)


def nonfiling(title: str) -> str:
    """245 second indicator: characters of a leading article to skip when sorting."""
    for article in ("The ", "An ", "A ", "De ", "Het "):
        if title.startswith(article):
            return str(len(article))
    return "0"


def call_number(ed: Edition, ddc: str) -> str:
    """Class number, three letters of the main entry, first letter of the title."""
    entry = ed.author or ed.title
    letters = "".join(ch for ch in entry if ch.isalpha())[:3].upper()
    title = ed.title.removeprefix("The ").removeprefix("A ")
    prefix = "R " if ed.reference else ""
    return f"{prefix}{ddc} {letters} {title[:1].lower()}"


def dates_008(ed: Edition) -> str:
    """008/06-14: type of date and the dates."""
    return ed.dates or f"s{ed.year}    "


def material_008(ed: Edition, online: bool) -> str:
    """008/18-34 for the record's type of material."""
    gov = GOVERNMENT.get(ed.publisher.name, " ")
    if ed.kind == "course":
        return f"    {ed.audience}o  i {gov}      "
    if ed.kind == "archive":
        return " " * 17
    form = "o" if online else " "
    illus = "a   " if ed.audience in "jc" and ed.audience.strip() else "    "
    index = "1" if ed.reference else "0"
    return f"{illus}{ed.audience}{form}    {gov}00{index} {ed.literary} "


def field_008(ed: Edition, entered: str, source: str = "d") -> Field:
    """The 40 fixed positions; built from the parts so each position is where MARC puts it."""
    online = bool(ed.url)
    value = (entered + dates_008(ed) + ed.publisher.country + material_008(ed, online)
             + ed.lang + " " + source)
    if len(value) != 40:
        raise ValueError(f"008 for {ed.key} has {len(value)} positions: {value!r}")
    return control("008", value)


def leader(ed: Edition, encoding_level: str, form: str) -> Leader:
    """Leader with Leader/09 'a' (UTF-8); lengths are filled in when the record is written."""
    kinds = {"manuscript": "tm ", "archive": "pca", "course": "mm "}
    type_level = kinds.get(ed.kind, "am ")
    return Leader(f"00000n{type_level}a2200000{encoding_level}{form} 4500")


def subject_subfields(heading: str) -> list[tuple[str, str]]:
    """'Kerang -- Tanjungbalai' becomes $a Kerang $z Tanjungbalai."""
    parts = heading.split(" -- ")
    out = [("a", parts[0])]
    for part in parts[1:]:
        code = "z" if part in PLACES else "y" if part[:1].isdigit() else "x"
        out.append((code, part))
    return out


def imprint_date(ed: Edition) -> str:
    """The date as it reads in 260/264: a range in brackets for undated manuscripts."""
    dates = dates_008(ed)
    if dates[0] == "q":
        return f"[antara {dates[1:5]} dan {dates[5:9]}]"
    if dates[0] == "i":
        return f"{dates[1:5]}-{dates[5:9]}"
    return str(ed.year)


def rare_description(ed: Edition) -> Fields:
    """340, 546, 066 and the Jawi title in 880: what a manuscript or old book carries."""
    fields: Fields = []
    if ed.kind in ("manuscript", "archive"):
        support = ("daun lontar" if ed.lang == "ban"
                   else "daluang" if ed.key in DALUANG else "kertas Eropa")
        fields.append(data_field("340", "  ", ("a", support)))
    script = {"ban": "Bahasa Bali, aksara Bali.", "dut": "Bahasa Belanda."}
    if ed.kind == "manuscript" and ed.lang == "may":
        fields.append(data_field("546", "  ", ("a", "Bahasa Melayu, aksara Jawi.")))
    elif ed.kind in ("manuscript", "colonial") and ed.lang in script:
        fields.append(data_field("546", "  ", ("a", script[ed.lang])))
    elif ed.kind == "colonial":
        fields.append(data_field("546", "  ", ("a", "Bahasa Melayu, huruf Latin, ejaan lama.")))
    if ed.jawi:
        fields.append(data_field("066", "  ", ("c", "(3")))
        fields.append(data_field("880", "10", ("6", "245-01/(3/r"), ("a", ed.jawi)))
    return fields


def genre_terms(ed: Edition, english_terms: bool) -> Fields:
    """655 genre terms: manuscripts, archives, courses and e-books say what they are."""
    local = {"manuscript": "Naskah kuno", "archive": "Arsip", "course": "Kursus daring"}
    english_names = {"manuscript": "Manuscripts", "archive": "Archives",
                     "course": "Online courses"}
    fields: Fields = []
    if ed.lang == "ban":
        fields.append(data_field("655", " 7", ("a", "Lontar"), ("2", "local")))
    if ed.kind in local:
        fields.append(data_field("655", " 7", ("a", local[ed.kind]), ("2", "local")))
        if english_terms:
            fields.append(data_field("655", " 7", ("a", english_names[ed.kind]), ("2", "local")))
    if ed.kind == "ebook":
        term = "Electronic books" if english_terms else "Buku elektronik"
        fields.append(data_field("655", " 4", ("a", term)))
    return fields


def online_fields(ed: Edition, english_terms: bool) -> Fields:
    """007, 533, 776 and 856 for anything read online."""
    if not ed.url:
        return []
    fields = [control("007", "cr |||||||||||")]
    if ed.digitised:
        place_pub, year = ed.digitised.rsplit(", ", 1)
        place, publisher = place_pub.split(" : ")
        fields.append(data_field("533", "  ", ("a", "Reproduksi elektronik."), ("b", place),
                                 ("c", publisher), ("d", year),
                                 ("n", "Mode akses: World Wide Web.")))
    if ed.print_isbn:
        label = "Print version:" if english_terms else "Edisi cetak:"
        fields.append(data_field("776", "08", ("i", label), ("z", ed.print_isbn.replace("-", ""))))
    note = {"course": "Daftar dan ikuti kursus", "ebook": "Baca e-book"}.get(ed.kind, "Lihat")
    fields.append(data_field("856", "40", ("u", ed.url), ("z", note)))
    return fields


def media_fields(ed: Edition, english_terms: bool) -> Fields:
    """336-338 in RDA terms, English or Indonesian as the library uses them."""
    online = bool(ed.url)
    if english_terms:
        content = ("text", "txt")
        media = ("computer", "c") if online else ("unmediated", "n")
        carrier = ("online resource", "cr") if online else ("volume", "nc")
    else:
        content = ("teks", "txt")
        media = ("komputer", "c") if online else ("tanpa perantara", "n")
        carrier = ("sumber daring", "cr") if online else ("volume", "nc")
    return [data_field(tag, "  ", ("a", term), ("b", code), ("2", vocab))
            for tag, (term, code), vocab in (("336", content, "rdacontent"),
                                             ("337", media, "rdamedia"),
                                             ("338", carrier, "rdacarrier"))]


def name_fields(ed: Edition, relator: Callable[[str], str], inverted: bool = True) -> Fields:
    """100 for the author and 700/710 for the others, with relator terms in $e."""
    fields: Fields = []
    if ed.author:
        name = ed.author if inverted else direct(ed.author)
        ind = "1 " if "," in name else "0 "
        fields.append(data_field("100", ind, ("a", name), ("e", relator("pengarang"))))
    for entry in ed.contributors:
        name, role = entry.split("|")
        if is_corporate(name):
            fields.append(data_field("710", "2 ", ("a", name), ("e", relator(role))))
        else:
            fields.append(data_field("700", "1 ", ("a", name), ("e", relator(role))))
    return fields


def height_cm(ed: Edition) -> str:
    """A stable height for the book, the same at every library that measures it."""
    base = {"j": 26, "c": 21, "a": 28}.get(ed.audience, 21 if ed.lang == "ind" else 23)
    return f"{base + int(hashlib.sha1(ed.key.encode()).hexdigest(), 16) % 3} cm"


# ---------------------------------------------------------------- how each partner catalogues


@dataclass
class Desk:
    """One partner's cataloguing desk: its numbering, its barcodes and its habits."""

    code: str
    rng: random.Random
    next_id: int
    next_item: int
    records: list[Record] = field(default_factory=list)

    def take_id(self, gap: int = 5) -> int:
        """The next control number; deleted records leave gaps, as in a real catalogue."""
        number = self.next_id
        self.next_id += self.rng.randint(1, gap)
        return number

    def take_item(self) -> int:
        """The next barcode or registration number."""
        self.next_item += 1
        return self.next_item

    def stamps(self, ed: Edition) -> tuple[str, str]:
        """008/00-05 (date entered) and 005 (last change), never before publication."""
        year = min(max(ed.year + self.rng.randint(0, 2), 2012), 2024)
        month, day = self.rng.randint(1, 12), self.rng.randint(1, 28)
        entered = f"{year % 100:02d}{month:02d}{day:02d}"
        changed = f"2024{self.rng.randint(1, 8):02d}{self.rng.randint(1, 28):02d}"
        clock = f"{self.rng.randint(7, 16):02d}{self.rng.randint(0, 59):02d}"
        return entered, f"{changed}{clock}{self.rng.randint(0, 59):02d}.0"

    def copies(self, ed: Edition) -> int:
        """How many copies this partner shelves: one of anything rare or online."""
        if ed.kind != "print":
            return 1
        if ed.audience == "d" and ed.series == "Kurikulum 2013" and self.code == "SMA1":
            return self.rng.randint(4, 8)
        return self.rng.choice((1, 1, 1, 2, 2, 3))


def build(leader_value: Leader, fields: Iterable[Field]) -> Record:
    """A record with its fields in tag order (stable, so repeated tags keep their order)."""
    record = Record(leader=str(leader_value))
    record.add_field(*sorted(fields, key=lambda f: f.tag))
    return record


def edition_statement(ed: Edition, desk: Desk, keep: bool) -> Fields:
    """250, which some copies leave out when nothing else in the pool depends on it."""
    if not ed.edition or (not keep and desk.rng.random() < 0.3):
        return []
    return [data_field("250", "  ", ("a", ed.edition))]


def isbd_title(ed: Edition, title: str, resp: str) -> Field:
    """245 with ISBD punctuation: $a Title. $n Part, $p Name : $b rest / $c who."""
    parts: list[tuple[str, str]] = [("a", title)]
    for code, value in (("n", ed.volume), ("p", ed.volume_title), ("b", ed.subtitle),
                        ("c", resp)):
        if not value:
            continue
        mark = {"n": ".", "p": "," if parts[-1][0] == "n" else ".", "b": " :", "c": " /"}[code]
        parts[-1] = (parts[-1][0], parts[-1][1] + mark)
        parts.append((code, value))
    last_code, last_value = parts[-1]
    if not last_value.endswith((".", "?", "!")):
        parts[-1] = (last_code, last_value + ".")
    ind1 = "1" if ed.author else "0"
    return data_field("245", ind1 + nonfiling(title), *parts)


def tbl_record(ed: Edition, desk: Desk, keep_edition: bool) -> Record:
    """Perpustakaan Kota Tanjungbalai, SLiMS: title case, 084 class, 260, holdings in 852."""
    entered, changed = desk.stamps(ed)
    fields: Fields = [control("001", str(desk.take_id())), control("003", ORG_CODES["TBL"]),
                      control("005", changed), field_008(ed, entered)]
    fields += tbl_identifiers(ed)
    fields += name_fields(ed, lambda role: role)
    fields.append(light_title(ed, title_case(ed.title), title_case(ed.subtitle),
                              responsibility(ed)))
    fields += edition_statement(ed, desk, keep_edition)
    fields.append(data_field("260", "  ", ("a", tbl_place(ed)), ("b", ed.publisher.name),
                             ("c", imprint_date(ed))))
    fields.append(data_field("300", "  ", ("a", ed.extent or f"{ed.pages} hlm."),
                             ("c", "" if ed.url else height_cm(ed))))
    fields += media_fields(ed, english_terms=False)
    fields += common_notes(ed)
    fields += [data_field("650", " 4", *subject_subfields(s)) for s in ed.subjects]
    fields += genre_terms(ed, english_terms=False) + online_fields(ed, english_terms=False)
    fields += rare_description(ed) + tbl_holdings(ed, desk)
    return build(leader(ed, " ", "i"), fields)


def light_title(ed: Edition, title: str, subtitle: str, resp: str) -> Field:
    """245 with only the colon and slash that SLiMS keeps, and no closing full stop."""
    parts = [(code, value) for code, value in (("a", title), ("n", ed.volume),
             ("p", ed.volume_title), ("b", subtitle), ("c", resp)) if value]
    for i in range(1, len(parts)):
        mark = {"b": " :", "c": " /"}.get(parts[i][0], "")
        parts[i - 1] = (parts[i - 1][0], parts[i - 1][1] + mark)
    return data_field("245", ("1" if ed.author else "0") + nonfiling(title), *parts)


def tbl_place(ed: Edition) -> str:
    """260 $a with its ISBD colon, or a bracketed guess for unpublished items."""
    if not ed.publisher.place:
        return "[Tempat tidak diketahui]"
    return ed.publisher.place + " :"


def tbl_identifiers(ed: Edition) -> Fields:
    """020 as printed on the book (sets: only the set ISBN), 040, 041 and the 084 class."""
    fields: Fields = []
    isbn = ed.set_isbn or isbn_of(ed)
    if isbn:
        fields.append(data_field("020", "  ", ("a", printed(isbn, ed.year))))
    fields.append(data_field("040", "  ", ("a", ORG_CODES["TBL"]), ("b", "ind"), ("e", "rda"),
                             ("e", ed.cataloguing), ("c", ORG_CODES["TBL"])))
    if ed.translated_from:
        fields.append(data_field("041", "1 ", ("a", ed.lang), ("h", ed.translated_from)))
    fields.append(data_field("084", "  ", ("a", ed.ddc)))
    return fields


def common_notes(ed: Edition) -> Fields:
    """490 series, 500 notes and 520 summary, as both full-record libraries give them."""
    fields: Fields = []
    if ed.series:
        fields.append(data_field("490", "0 ", ("a", ed.series)))
    fields += [data_field("500", "  ", ("a", note)) for note in ed.notes]
    if ed.summary:
        fields.append(data_field("520", "  ", ("a", ed.summary)))
    return fields


def tbl_location(ed: Edition) -> str:
    """The city library's shelving: rare things in Koleksi Langka, local history apart."""
    if ed.kind in ("manuscript", "archive", "colonial") and not ed.url:
        return "Koleksi Langka"
    if ed.url:
        return "Koleksi Digital"
    if ed.reference:
        return "Referensi"
    if ed.audience.strip():
        return "Anak" if ed.audience in "jac" else "Remaja"
    return "Koleksi Lokal" if ed.local else "Umum"


def tbl_holdings(ed: Edition, desk: Desk) -> Fields:
    """852 per copy: $a TBL, $b location, $h call number, $p barcode."""
    location = tbl_location(ed)
    return [data_field("852", "  ", ("a", "TBL"), ("b", location),
                       ("h", call_number(ed, ed.ddc)), ("p", f"B{desk.take_item():06d}"))
            for _ in range(desk.copies(ed))]


def una_relator(role: str) -> str:
    """Koha at the university records RDA relator terms in English."""
    return ROLES_EN.get(role, role) + "."


def una_record(ed: Edition, desk: Desk, keep_edition: bool) -> Record:
    """Perpustakaan Universitas Asahan, Koha: full RDA, 082, 264, items in 952."""
    number = desk.take_id(3)
    entered, changed = desk.stamps(ed)
    fields: Fields = [control("001", str(number)), control("003", ORG_CODES["UNA"]),
                      control("005", changed), field_008(ed, entered)]
    fields += una_identifiers(ed, desk)
    fields += [f for f in name_fields(ed, una_relator) if f.tag != "100"] + una_main_entry(ed)
    fields.append(isbd_title(ed, ed.title, responsibility(ed)))
    fields += edition_statement(ed, desk, keep_edition)
    fields.append(una_imprint(ed))
    fields.append(data_field("300", "  ", ("a", una_extent(ed)),
                             ("c", "" if ed.url else height_cm(ed) + ".")))
    fields += media_fields(ed, english_terms=True) + common_notes(ed)
    ind2 = "0" if ed.lang == "eng" else "4"
    fields += [data_field("650", " " + ind2, *subject_subfields(s)) for s in ed.subjects]
    fields += genre_terms(ed, english_terms=True) + online_fields(ed, english_terms=True)
    fields += rare_description(ed) + una_items(ed, desk)
    fields.append(data_field("999", "  ", ("c", str(number)), ("d", str(number))))
    return build(leader(ed, " ", "i"), fields)


def una_main_entry(ed: Edition) -> Fields:
    """100 with the comma before the relator that RDA punctuation asks for."""
    if not ed.author:
        return []
    ind = "1 " if "," in ed.author else "0 "
    return [data_field("100", ind, ("a", ed.author + ","), ("e", "author."))]


def una_identifiers(ed: Edition, desk: Desk) -> Fields:
    """020 as bare ISBN-13 with a qualifier, both volume and set ISBNs; 040, 041, 082."""
    fields: Fields = []
    isbn = isbn_of(ed)
    if isbn:
        qualifier = una_qualifier(ed, desk)
        fields.append(data_field("020", "  ", ("a", isbn.replace("-", "")), ("q", qualifier)))
    if ed.set_isbn:
        fields.append(data_field("020", "  ", ("a", ed.set_isbn.replace("-", "")),
                                 ("q", "(set)" if ed.lang == "eng" else "(jilid lengkap)")))
    fields.append(data_field("040", "  ", ("a", ORG_CODES["UNA"]), ("b", "ind"), ("e", "rda"),
                             ("e", ed.cataloguing), ("c", ORG_CODES["UNA"])))
    if ed.translated_from:
        fields.append(data_field("041", "1 ", ("a", ed.lang), ("h", ed.translated_from)))
    fields.append(data_field("082", "04", ("a", ed.ddc), ("2", "23")))
    return fields


def una_qualifier(ed: Edition, desk: Desk) -> str:
    """The 020 $q a Koha cataloguer adds: format for e-books, binding for some print."""
    if ed.kind == "ebook":
        return "(electronic book)"
    if ed.volume:
        return f"({ed.volume.lower()})"
    if ed.lang == "eng":
        return desk.rng.choice(("(paperback)", "(pbk.)", "(hardback)", ""))
    return desk.rng.choice(("(softcover)", "", ""))


def una_imprint(ed: Edition) -> Field:
    """264: production (second indicator 0) for manuscripts, publication (1) otherwise."""
    if not ed.publisher.name:
        return data_field("264", " 0", ("c", imprint_date(ed)))
    return data_field("264", " 1", ("a", ed.publisher.place + " :"),
                      ("b", ed.publisher.name + ","), ("c", imprint_date(ed) + "."))


def una_extent(ed: Edition) -> str:
    """300 $a in RDA words: 'pages' for English books, 'halaman' for Indonesian ones."""
    if ed.extent:
        return ed.extent.replace("sumber daring", "online resource") if ed.lang == "eng" \
            else ed.extent
    word = "pages" if ed.lang in ("eng", "dut") else "halaman"
    if not ed.pages[:1].isalnum() or "volume" in ed.pages:
        return ed.pages
    return f"{ed.pages} {word}"


def una_place(ed: Edition) -> tuple[str, str, str, str]:
    """952 $c location, $8 collection, $y item type, $7 not-for-loan, as Koha codes."""
    if ed.kind in ("manuscript", "archive") and not ed.url:
        return "KHUSUS", "NASKAH", "MSS", "1"
    if ed.kind == "colonial" and not ed.url:
        return "KHUSUS", "LANGKA", "BL", "1"
    if ed.kind == "course":
        return "DIGITAL", "KURSUS", "KD", "1"
    if ed.url:
        return "DIGITAL", "EBOOK", "EB", "1"
    if ed.reference:
        return "REF", "REF", "REF", "1"
    return "UMUM", "UMUM", "BK", ""


def una_items(ed: Edition, desk: Desk) -> Fields:
    """942 (default item type) and one 952 per item, with Koha's subfield order."""
    location, collection, item_type, not_for_loan = una_place(ed)
    branch = "FPIK" if ed.ddc.startswith(("639", "664", "338.37", "577.6")) else "PUSAT"
    fields = [data_field("942", "  ", ("2", "ddc"), ("c", item_type))]
    for _ in range(desk.copies(ed)):
        acquired = f"{max(ed.year, 2015) + desk.rng.randint(0, 3)}-{desk.rng.randint(1, 12):02d}-"
        acquired += f"{desk.rng.randint(1, 28):02d}"
        fields.append(data_field(
            "952", "  ", ("0", "0"), ("1", "0"), ("7", not_for_loan), ("8", collection),
            ("a", branch), ("b", branch), ("c", location), ("d", min(acquired, "2024-06-30")),
            ("o", call_number(ed, ed.ddc)), ("p", f"3{desk.take_item():07d}"), ("y", item_type)))
    return fields


def sma1_record(ed: Edition, desk: Desk, keep_edition: bool) -> Record:
    """SMA Negeri 1 Tanjungbalai, INLISLite: capital titles, names in direct order, 990 items."""
    entered, changed = desk.stamps(ed)
    fields: Fields = [control("001", f"INLIS{desk.take_id(2):015d}"),
                      control("003", ORG_CODES["SMA1"]), control("005", changed),
                      field_008(ed, entered)]
    isbn = ed.set_isbn or isbn_of(ed)
    if isbn:
        shown = printed(isbn, ed.year)
        fields.append(data_field("020", "  ", ("a", shown if desk.rng.random() < 0.5
                                               else shown.replace("-", ""))))
    fields.append(data_field("040", "  ", ("a", ORG_CODES["SMA1"]), ("c", ORG_CODES["SMA1"])))
    fields.append(data_field("082", "  ", ("a", ed.ddc[:6].rstrip("."))))
    fields.append(data_field("084", "  ", ("a", call_number(ed, ed.ddc[:6].rstrip(".")))))
    fields += name_fields(ed, lambda role: "", inverted=False)
    fields.append(isbd_title(ed, ed.title.upper(), responsibility(ed)))
    fields += edition_statement(ed, desk, keep_edition)
    fields.append(data_field("260", "  ", ("a", ed.publisher.place + " :"),
                             ("b", ed.publisher.short + ","), ("c", imprint_date(ed) + ".")))
    if ed.url or desk.rng.random() < 0.6:
        fields.append(data_field("300", "  ", ("a", ed.extent or f"{ed.pages} hlm. ;"),
                                 ("c", "" if ed.url else height_cm(ed))))
    if ed.series:
        fields.append(data_field("490", "0 ", ("a", ed.series)))
    fields += [data_field("650", " 4", ("a", s.upper())) for s in ed.subjects]
    fields += online_fields(ed, english_terms=False) + sma1_items(ed, desk)
    return build(leader(ed, " ", "a"), fields)


def sma1_items(ed: Edition, desk: Desk) -> Fields:
    """990 per copy: $a registration number, $b location in the school library."""
    if ed.url:
        location = "Koleksi Digital"
    elif ed.series == "Kurikulum 2013":
        location = "Buku Paket"
    elif ed.reference:
        location = "Referensi"
    else:
        location = "Ruang Baca"
    return [data_field("990", "  ", ("a", f"{desk.take_item():07d}"), ("b", location))
            for _ in range(desk.copies(ed))]


def tbm_record(ed: Edition, desk: Desk, keep_edition: bool) -> Record:
    """Taman Bacaan Masyarakat Pelita Pesisir, SLiMS: short records, some without 001."""
    number = desk.take_id(1)
    entered, changed = desk.stamps(ed)
    fields: Fields = [control("005", changed), field_008(ed, entered)]
    if number % 9 != 4:
        fields.append(control("001", str(number)))
    isbn = ed.set_isbn or isbn_of(ed)
    if isbn:
        bare = printed(isbn, ed.year).replace("-", "")
        qualifier = " (pbk.)" if ed.lang == "eng" else ""
        fields.append(data_field("020", "  ", ("a", bare + qualifier)))
    fields.append(data_field("084", "  ", ("a", ed.ddc[:3])))
    if ed.author:
        fields.append(data_field("100", ("1 " if "," in ed.author else "0 "), ("a", ed.author)))
    title = title_case(" ".join(filter(None, (ed.title, ed.volume))))
    fields.append(data_field("245", ("1" if ed.author else "0") + nonfiling(title), ("a", title)))
    fields += edition_statement(ed, desk, keep_edition)
    fields.append(data_field("260", "  ", ("a", ed.publisher.place), ("b", ed.publisher.short),
                             ("c", imprint_date(ed))))
    if ed.pages and desk.rng.random() < 0.5:
        fields.append(data_field("300", "  ", ("a", f"{ed.pages} hal.")))
    fields += [data_field("650", " 4", ("a", ed.subjects[0]))]
    fields += genre_terms(ed, english_terms=False) + online_fields(ed, english_terms=False)
    fields += rare_description(ed) + tbm_holdings(ed, desk, number)
    return build(leader(ed, "7", "u"), fields)


def tbm_holdings(ed: Edition, desk: Desk, number: int) -> Fields:
    """852 with shelf and call number; every seventh record has none, online ones neither."""
    if ed.url or number % 7 == 3:
        return []
    if ed.kind == "manuscript":
        shelf = "Koleksi Langka"
    elif ed.audience in "jac" and ed.audience.strip():
        shelf = "Rak Anak"
    elif ed.ddc.startswith("297"):
        shelf = "Rak Agama"
    else:
        shelf = "Rak Umum"
    return [data_field("852", "  ", ("a", "TBM"), ("b", shelf),
                       ("h", call_number(ed, ed.ddc[:3])), ("p", f"TBM-{desk.take_item():04d}"))
            for _ in range(min(desk.copies(ed), 2))]


# ---------------------------------------------------------------- writing the files

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MARC_SCHEMA_URL = "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd"
STYLES: dict[str, Callable[[Edition, Desk, bool], Record]] = {
    "TBL": tbl_record, "UNA": una_record, "SMA1": sma1_record, "TBM": tbm_record}
DESK_NUMBERS = {"TBL": (1021, 10230), "UNA": (2301, 1040), "SMA1": (118, 4410), "TBM": (12, 0)}
# The two TBM records that arrive damaged, and how (see docs/demo.md).
BROKEN_IN_TBM = {"budidaya-jeruk": "directory", "kerang-ajaib": "truncated"}


def sibling_keys() -> set[str]:
    """Editions with another edition of the same work in the pool: they always keep 250."""
    return {key for base, variant, _ in VARIANTS for key in (base, variant)}


def catalogue(code: str, editions: list[Edition], index: int) -> list[tuple[str, Record]]:
    """One partner's records in its own (acquisition) order, keyed by edition."""
    desk = Desk(code, random.Random(SEED + index), *DESK_NUMBERS[code])
    held = [ed for ed in editions if code in ed.holders]
    desk.rng.shuffle(held)
    if code == "TBM":
        # An export cut short damages its last record, so that one goes last.
        held.sort(key=lambda ed: BROKEN_IN_TBM.get(ed.key) == "truncated")
    keep = sibling_keys()
    return [(ed.key, STYLES[code](ed, desk, ed.key in keep)) for ed in held]


def iso2709(records: list[tuple[str, Record]], broken: dict[str, str]) -> bytes:
    """ISO 2709 bytes, damaging the records named in `broken` the way they were found."""
    out = bytearray()
    for key, record in records:
        raw = record.as_marc()
        damage = broken.get(key)
        if damage == "directory":
            raw = drop_directory_byte(raw)
        elif damage == "truncated":
            raw = raw[: len(raw) * 2 // 3]
        out += raw
    return bytes(out)


def drop_directory_byte(raw: bytes) -> bytes:
    """Lose the last byte of the directory while keeping the leader's lengths consistent.

    The directory is then one byte short of a whole number of 12-byte entries
    (ISO 2709 section 4.4), so a reader rejects this record alone and stays in step.
    """
    base = int(raw[12:17])
    damaged = raw[: base - 2] + raw[base - 1 :]
    lengths = f"{len(damaged):05d}".encode(), f"{base - 1:05d}".encode()
    return lengths[0] + damaged[5:12] + lengths[1] + damaged[17:]


def marcxml(records: list[tuple[str, Record]]) -> bytes:
    """A MARCXML collection, as Koha exports it, valid against MARC21slim.xsd."""
    namespaces: dict[Any, str] = {None: MARC_NS, "xsi": XSI_NS}
    root = etree.Element(f"{{{MARC_NS}}}collection", nsmap=namespaces)
    root.set(f"{{{XSI_NS}}}schemaLocation", f"{MARC_NS} {MARC_SCHEMA_URL}")
    for _, record in records:
        node = etree.SubElement(root, f"{{{MARC_NS}}}record")
        # The leader's lengths are those the record would have as ISO 2709.
        etree.SubElement(node, f"{{{MARC_NS}}}leader").text = record.as_marc()[:24].decode()
        for fld in record.fields:
            add_xml_field(node, fld)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def add_xml_field(node: etree._Element, fld: Field) -> None:
    """One controlfield, or one datafield with its subfields."""
    if fld.is_control_field():
        element = etree.SubElement(node, f"{{{MARC_NS}}}controlfield", tag=fld.tag)
        element.text = fld.data
        return
    element = etree.SubElement(node, f"{{{MARC_NS}}}datafield", tag=fld.tag,
                               ind1=fld.indicator1, ind2=fld.indicator2)
    for sub in fld.subfields:
        etree.SubElement(element, f"{{{MARC_NS}}}subfield", code=sub.code).text = sub.value


# ---------------------------------------------------------------- the university's course feed

UNA_LMS = "https://kuliah.una.ac.id"
# (org, number, run, name, link, start, end, effort, short description).
# The first four run on the university's own Open edX; the rest are courses on
# other platforms that the university recognises for credit and lists alongside.
FEED_COURSES = [
    ("UNA", "BDP101", "2025_1", "Budidaya Perikanan Pesisir", "",
     "2025-02-10", "2025-06-13", "04:00",
     "Pemilihan lokasi tambak, pakan, dan kualitas air untuk udang dan ikan di pesisir timur "
     "Sumatera."),
    ("UNA", "PHP201", "2025_1", "Pengolahan Hasil Perikanan Tradisional", "",
     "2025-02-10", "2025-05-30", "03:00",
     "Pengasinan, pengasapan, dan pengemasan ikan untuk usaha rumahan di kampung nelayan."),
    ("UNA", "BBM110", "2025_1", "Bahasa dan Budaya Melayu Pesisir", "",
     "2025-03-03", "2025-06-27", "02:30",
     "Pantun, adat, dan sejarah Kesultanan Asahan dalam dua belas modul pendek."),
    ("UNA", "LIT100", "2024_2", "Literasi Informasi untuk Mahasiswa Baru", "",
     "2024-09-02", "2024-12-20", "01:30",
     "Mencari, menilai, dan mengutip sumber untuk tugas kuliah pertama."),
    ("SPADA", "BIA01", "2025_1", "Bahasa Indonesia Akademik",
     "https://spada.kemdikbud.go.id/course/view.php?id=40105",
     "2025-02-17", "2025-06-06", "03:00",
     "Menulis karya ilmiah dalam bahasa Indonesia baku: paragraf, kutipan, dan daftar pustaka."),
    ("SPADA", "KWD02", "2025_1", "Kewirausahaan Digital bagi UMKM Pesisir",
     "https://spada.kemdikbud.go.id/course/view.php?id=42257",
     "2025-03-10", "2025-05-16", "02:00",
     "Memasarkan produk olahan laut lewat lokapasar dan media sosial."),
    ("SPADA", "STD11", "2025_1", "Statistika Dasar",
     "https://spada.kemdikbud.go.id/course/view.php?id=39044",
     "2025-02-17", "2025-06-20", "04:00",
     "Statistika deskriptif, peluang, dan uji hipotesis dengan contoh data perikanan."),
    ("ICEI", "IK101", "2025_1", "Pengantar Ilmu Kelautan",
     "https://icei.ac.id/course/pengantar-ilmu-kelautan",
     "2025-02-03", "2025-05-23", "03:00",
     "Arus, pasang surut, dan ekosistem laut tropis sebagai dasar pengelolaan pesisir."),
    ("ICEI", "MSP204", "2025_1", "Manajemen Sumber Daya Perairan",
     "https://icei.ac.id/course/manajemen-sumber-daya-perairan",
     "2025-02-03", "2025-05-23", "03:00",
     "Pengelolaan perikanan berbasis ekosistem, kuota tangkap, dan kawasan konservasi."),
    ("CoastalX", "SSF101", "2025_T1", "Small-Scale Fisheries and Coastal Livelihoods",
     "https://www.edx.org/learn/fisheries/coastalx-small-scale-fisheries",
     "2025-01-20", "2025-04-28", "03:00",
     "How small-scale fishers organise, trade and adapt, with cases from Southeast Asia."),
    ("DataSciX", "PY101", "2025_T1", "Introduction to Data Analysis with Python",
     "https://www.edx.org/learn/python/datascix-introduction-to-data-analysis",
     "2025-01-13", "2025-03-31", "05:00",
     "Load, clean and chart data with pandas; no programming experience needed."),
    ("ClimateX", "CC210", "2025_T1", "Climate Change and Coastal Communities",
     "https://www.edx.org/learn/climate-change/climatex-coastal-communities",
     "2025-02-24", "2025-05-19", "02:00",
     "Sea-level rise, flooding and adaptation planning for towns on river mouths."),
    ("Coursera", "aquaculture-food-security", "2025", "Aquaculture and Food Security",
     "https://www.coursera.org/learn/aquaculture-food-security",
     "2025-01-06", "2025-12-31", "02:00",
     "The place of farmed fish and seaweed in feeding a growing population."),
    ("Coursera", "academic-english-writing", "2025", "English for Academic Writing",
     "https://www.coursera.org/learn/academic-english-writing",
     "2025-01-06", "2025-12-31", "03:00",
     "Plan, draft and revise academic essays in English, with feedback from peers."),
    ("Coursera", "islamic-finance-basics", "2025", "Islamic Finance Fundamentals",
     "https://www.coursera.org/learn/islamic-finance-basics",
     "2025-01-06", "2025-12-31", "02:30",
     "Contracts, banking and sukuk under Islamic commercial law, explained for beginners."),
]

# (title, provider, url, language, start, end, description, subjects).
# The list a librarian keeps by hand; two rows repeat courses from the feed.
CSV_COURSES = [
    ("Budidaya Perikanan Pesisir", "Universitas Asahan",
     f"{UNA_LMS}/courses/course-v1:UNA+BDP101+2025_1/about", "id", "2025-02-10", "2025-06-13",
     "Kuliah daring 14 pertemuan tentang tambak udang dan ikan di pesisir.",
     "Akuakultur; Budi daya perikanan"),
    ("Bahasa Indonesia Akademik", "SPADA Indonesia",
     "https://spada.kemdikbud.go.id/course/view.php?id=40105", "id", "2025-02-17", "2025-06-06",
     "Menulis karya ilmiah dalam bahasa Indonesia baku.", "Bahasa Indonesia; Penulisan ilmiah"),
    ("Literasi Digital untuk Guru", "SPADA Indonesia",
     "https://spada.kemdikbud.go.id/course/view.php?id=41310", "id", "2025-04-07", "2025-05-30",
     "Pelatihan daring bagi guru SMA: sumber belajar daring, hak cipta, dan keamanan data.",
     "Literasi digital; Pelatihan guru"),
    ("Pengantar Arsip dan Naskah Kuno", "ICE Institute",
     "https://icei.ac.id/course/pengantar-arsip-dan-naskah-kuno", "id", "2025-03-03",
     "2025-06-20", "Mengenali, merawat, dan mendeskripsikan naskah kuno dan arsip di "
     "perpustakaan daerah.", "Naskah kuno; Kearsipan; Pelestarian"),
    ("Marine Plastic Pollution", "edX",
     "https://www.edx.org/learn/environmental-science/oceanx-marine-plastic-pollution", "en",
     "2025-02-10", "2025-04-21", "Where plastic in the sea comes from and what towns can do.",
     "Marine pollution; Plastics"),
    ("Financial Literacy for Small Businesses", "Coursera",
     "https://www.coursera.org/learn/small-business-financial-literacy", "en", "2025-01-06",
     "2025-12-31", "Bookkeeping, cash flow and credit for owners of small businesses.",
     "Small business -- Finance; Financial literacy"),
    ("Teaching Reading to Young Learners", "FutureLearn",
     "https://www.futurelearn.com/courses/teaching-reading-young-learners", "en", "2025-03-17",
     "2025-04-28", "Practical ways to help children aged 5 to 9 learn to read.",
     "Reading (Primary education); Children's literacy"),
    ("Pemasaran Produk Perikanan", "Universitas Asahan",
     f"{UNA_LMS}/courses/course-v1:UNA+PPP230+2025_1/about", "id", "2025-03-10", "2025-06-27",
     "Rantai pasok, harga, dan pemasaran kerang dan kepiting dari Tanjungbalai.",
     "Pemasaran; Hasil perikanan"),
]


def feed_entry(row: tuple[str, ...]) -> dict[str, Any]:
    """One course in the shape of Open edX's /api/courses/v1/courses/ results."""
    org, number, run, name, link, start, end, effort, description = row
    course_id = f"course-v1:{org}+{number}+{run}"
    own = org == "UNA"
    about = f"{UNA_LMS}/courses/{course_id}/about"
    image = f"/asset-v1:{org}+{number}+{run}+type@asset+block@course_image.jpg"
    return {
        "blocks_url": f"{UNA_LMS}/api/courses/v1/blocks/?course_id={course_id.replace('+', '%2B')}"
        if own else None,
        "course_id": course_id,
        "course_url": about if own else link,
        "effort": effort,
        "end": f"{end}T23:59:00Z",
        "enrollment_end": f"{start}T00:00:00Z",
        "enrollment_start": f"{start[:4]}-01-01T00:00:00Z",
        "hidden": False,
        "id": course_id,
        "invitation_only": False,
        "media": {
            "banner_image": {"uri": image, "uri_absolute": UNA_LMS + image},
            "course_image": {"uri": image},
            "course_video": {"uri": None},
            "image": {"large": UNA_LMS + image, "raw": UNA_LMS + image, "small": UNA_LMS + image},
        },
        "mobile_available": own,
        "name": name,
        "number": number,
        "org": org,
        "pacing": "instructor" if own else "self",
        "short_description": description,
        "start": f"{start}T00:00:00Z",
        "start_display": start,
        "start_type": "timestamp",
    }


def course_feed() -> bytes:
    """The JSON course catalogue, one page, as the platform serves it."""
    results = [feed_entry(row) for row in FEED_COURSES]
    page = {"results": results,
            "pagination": {"next": None, "previous": None, "count": len(results),
                           "num_pages": 1}}
    return (json.dumps(page, ensure_ascii=False, indent=2) + "\n").encode()


def course_csv() -> bytes:
    """The hand-kept CSV list of courses."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("title", "provider", "url", "language", "start", "end", "description",
                     "subjects"))
    writer.writerows(CSV_COURSES)
    return buffer.getvalue().encode()


# ---------------------------------------------------------------- main

OUTPUTS = {"TBL": "tbl/koleksi.mrc", "UNA": "una/katalog.xml", "SMA1": "sma1/inlislite.mrc",
           "TBM": "tbm/tbm.mrc"}


def write_demo(out: Path) -> dict[str, int]:
    """Write every demo file under `out`; returns the number of records in each MARC file."""
    editions = all_editions()
    counts = {}
    for index, code in enumerate(PARTNERS):
        records = catalogue(code, editions, index)
        target = out / OUTPUTS[code]
        target.parent.mkdir(parents=True, exist_ok=True)
        broken = BROKEN_IN_TBM if code == "TBM" else {}
        data = marcxml(records) if code == "UNA" else iso2709(records, broken)
        target.write_bytes(data)
        counts[OUTPUTS[code]] = len(records)
    (out / "courses").mkdir(parents=True, exist_ok=True)
    (out / "courses" / "una-courses.json").write_bytes(course_feed())
    (out / "courses" / "kursus.csv").write_bytes(course_csv())
    return counts


def main(argv: list[str]) -> int:
    """Write the demo into the folder named on the command line, else config/demo."""
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    for name, count in write_demo(out).items():
        print(f"{out / name}: {count} records")
    print(f"{out / 'courses'}: {len(FEED_COURSES)} feed courses, {len(CSV_COURSES)} CSV rows")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
