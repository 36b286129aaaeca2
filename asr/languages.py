"""Whisper's languages by name, because OpenAI's verbose_json names the language ("english") instead of coding it."""

from __future__ import annotations

_CODES = (
    "en english,zh chinese,de german,es spanish,ru russian,ko korean,fr french,ja japanese,pt portuguese,tr turkish,"
    "pl polish,ca catalan,nl dutch,ar arabic,sv swedish,it italian,id indonesian,hi hindi,fi finnish,vi vietnamese,"
    "he hebrew,uk ukrainian,el greek,ms malay,cs czech,ro romanian,da danish,hu hungarian,ta tamil,no norwegian,"
    "th thai,ur urdu,hr croatian,bg bulgarian,lt lithuanian,la latin,mi maori,ml malayalam,cy welsh,sk slovak,"
    "te telugu,fa persian,lv latvian,bn bengali,sr serbian,az azerbaijani,sl slovenian,kn kannada,et estonian,"
    "mk macedonian,br breton,eu basque,is icelandic,hy armenian,ne nepali,mn mongolian,bs bosnian,kk kazakh,"
    "sq albanian,sw swahili,gl galician,mr marathi,pa punjabi,si sinhala,km khmer,sn shona,yo yoruba,so somali,"
    "af afrikaans,oc occitan,ka georgian,be belarusian,tg tajik,sd sindhi,gu gujarati,am amharic,yi yiddish,lo lao,"
    "uz uzbek,fo faroese,ht haitian creole,ps pashto,tk turkmen,nn nynorsk,mt maltese,sa sanskrit,lb luxembourgish,"
    "my myanmar,bo tibetan,tl tagalog,mg malagasy,as assamese,tt tatar,haw hawaiian,ln lingala,ha hausa,ba bashkir,"
    "jw javanese,su sundanese,yue cantonese"
)
BY_NAME = {name: code for code, name in (entry.split(" ", 1) for entry in _CODES.split(","))}
CODES = frozenset(BY_NAME.values())
_NAMES = {code: name for name, code in BY_NAME.items()}


def language_code(value: object) -> str | None:
    """ "english" / "English" / "en" -> "en"; None for anything that is not one of Whisper's languages."""
    if not isinstance(value, str):
        return None
    key = value.strip().lower()
    return key if key in CODES else BY_NAME.get(key)


def language_name(code: str) -> str:
    """ "de" -> "German", for people; a code Whisper does not know stays as it is (a transcript file may name any)."""
    name = _NAMES.get(code.strip().lower())
    return name.title() if name else code
