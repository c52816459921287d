"""Word lists for the deterministic linker: genres (English and Chinese), domains, polarity cues."""

from __future__ import annotations

import re
from collections.abc import Iterable

from retrieval.index import COMPOUND_SEP

HAN = re.compile(r"[\u3400-\u9fff]")  # a Chinese character: Chinese text, a Chinese genre form or title

# canonical genre -> surface forms (lowercase English words/phrases, Chinese strings)
GENRES: dict[str, tuple[str, ...]] = {
    "action": ("action", "action-packed", "superhero", "superheroes", "super hero", "super heroes", "comic book",
               "marvel", "动作", "超级英雄", "漫威"),
    "adventure": ("adventure", "adventures", "adventurous", "冒险"),
    "animation": ("animation", "animated", "cartoon", "cartoons", "anime", "disney", "pixar", "dreamworks", "ghibli",
                  "动画", "动漫", "卡通", "迪士尼", "皮克斯", "吉卜力"),
    "biography": ("biography", "biopic", "biopics", "biographical", "true story", "true stories", "传记", "真实故事"),
    "comedy": ("comedy", "comedies", "funny", "hilarious", "humor", "humour", "humorous", "rom-com",
               "romcom", "rom com", "rom coms", "chick flick", "chick flicks", "feel good", "feel-good", "喜剧", "搞笑",
               "幽默"),
    "crime": ("crime", "gangster", "gangsters", "mafia", "heist", "mob", "犯罪", "黑帮"),
    "documentary": ("documentary", "documentaries", "纪录片"),
    "drama": ("drama", "dramas", "dramatic", "tearjerker", "tear jerker", "tear-jerker", "剧情"),
    "family": ("family", "kids", "family-friendly", "家庭", "合家欢", "亲子"),
    "fantasy": ("fantasy", "magic", "magical", "wizards", "奇幻", "魔幻", "玄幻"),
    "film-noir": ("noir", "film noir", "film-noir", "黑色电影"),
    "history": ("history", "historical", "period piece", "历史"),
    "horror": ("horror", "horrors", "scary", "slasher", "creepy", "haunted", "terror", "zombie", "zombies", "vampire",
               "vampires", "gory", "恐怖", "鬼片", "吓人", "丧尸", "僵尸"),
    "music": ("music", "musician", "musicians", "音乐"),
    "musical": ("musical", "musicals", "歌舞"),
    "mystery": ("mystery", "mysteries", "whodunit", "whodunnit", "detective", "悬疑", "推理", "侦探"),
    "romance": ("romance", "romantic", "romances", "love story", "love stories", "rom-com", "romcom", "rom com",
                "rom coms", "chick flick", "chick flicks", "爱情", "浪漫", "言情"),
    "sci-fi": ("sci-fi", "scifi", "sci fi", "science fiction", "science-fiction", "space opera", "outer space",
               "space movie", "space movies", "科幻", "太空"),
    "sport": ("sport", "sports", "体育", "运动"),
    "thriller": ("thriller", "thrillers", "suspense", "suspenseful", "spy", "spies", "espionage", "惊悚", "间谍"),
    "war": ("war", "wartime", "战争"),
    "western": ("western", "westerns", "cowboy", "cowboys", "西部"),
    "martial-arts": ("martial arts", "martial-arts", "kung fu", "kung-fu", "wuxia", "武侠", "功夫", "武打"),
    "dystopian": ("dystopian", "dystopia", "反乌托邦"),
    "non-fiction": ("non-fiction", "nonfiction", "non fiction", "非虚构"),
    "poetry": ("poetry", "poems", "poem", "诗歌", "诗集"),
    "philosophy": ("philosophy", "philosophical", "哲学"),
    "science": ("popular science", "pop science", "science book", "science books", "科普"),
    "young-adult": ("young adult", "young-adult", "ya novel", "青春"),
    "children": ("children's", "childrens", "children", "儿童", "童话"),
    "memoir": ("memoir", "memoirs", "回忆录"),
    "literary": ("literary", "literature", "文学"),
    "psychology": ("psychology", "psychological", "心理"),
    "economics": ("economics", "economy", "经济"),
}

# A kind that is two genres at once: "romcoms", "romantic comedies", "sci-fi horror". Ruled out, only
# movies with every part go ("no romcoms" keeps plain comedies); the key joins the sorted parts with "+".
COMPOUND_LABELS = {"comedy+romance": ("romcoms", "爱情喜剧")}  # (English, Chinese)


def compound_genre(genres: Iterable[str]) -> str:
    """The one key for a set of genres: the genre itself, or the sorted parts joined ("comedy+romance")."""
    return COMPOUND_SEP.join(sorted(set(genres)))


def genre_parts(key: str) -> tuple[str, ...]:
    """The genres a key stands for: ("horror",) or ("comedy", "romance")."""
    return tuple(key.split(COMPOUND_SEP))


# original language (ISO 639-1, as catalog records give it) -> how people ask for it ("Korean thrillers",
# "French films", "日本电影"); nationalities stand for their main language
LANGUAGES: dict[str, tuple[str, ...]] = {
    "en": ("english-language", "in english", "hollywood", "american", "british", "英语", "英文", "美国", "好莱坞",
           "英国"),
    "zh": ("chinese", "mandarin", "cantonese", "hong kong", "taiwanese", "华语", "国产", "中文", "港片", "香港",
           "台湾", "大陆"),
    "ja": ("japanese", "日本", "日语", "日剧", "日影"),
    "ko": ("korean", "韩国", "韩语", "韩剧", "韩影"),
    "fr": ("french", "法国", "法语"),
    "es": ("spanish", "mexican", "argentinian", "argentine", "西班牙", "墨西哥"),
    "it": ("italian", "意大利"),
    "de": ("german", "德国", "德语"),
    "ru": ("russian", "soviet", "俄罗斯", "俄语", "苏联"),
    "hi": ("hindi", "bollywood", "indian", "印度", "宝莱坞"),
    "sv": ("swedish", "瑞典"),
    "da": ("danish", "丹麦"),
    "no": ("norwegian", "挪威"),
    "pt": ("portuguese", "brazilian", "葡萄牙", "巴西"),
    "pl": ("polish", "波兰"),
    "fa": ("persian", "iranian", "farsi", "伊朗"),
    "he": ("hebrew", "israeli", "以色列"),
    "ar": ("arabic", "阿拉伯"),
    "tr": ("turkish", "土耳其"),
    "cs": ("czech", "捷克"),
    "nl": ("dutch", "荷兰"),
    "hu": ("hungarian", "匈牙利"),
}

DOMAINS: dict[str, tuple[str, ...]] = {
    "movie": ("movie", "movies", "film", "films", "watch", "watching", "cinema", "flick", "flicks",
              "电影", "影片", "片子", "看片"),
    "book": ("book", "books", "novel", "novels", "read", "reading", "author", "书", "小说", "读", "看书", "书籍"),
}

# cues that make the nearest following target negative ("no horror", "hated Titanic", "不喜欢恐怖片")
NEGATION_BEFORE: tuple[str, ...] = (
    "not", "no", "don't", "dont", "do not", "didn't", "didnt", "doesn't", "hate", "hated", "hates",
    "dislike", "disliked", "can't stand", "cant stand", "avoid", "without", "except", "never", "nothing",
    "not a fan of", "sick of", "tired of", "no more", "anything but", "skip", "none of", "instead of",
    "pass on",
    "不喜欢", "不要", "不想", "讨厌", "别", "不看", "不爱", "除了", "不喜歡", "受不了", "不感兴趣",
)
# cues that make the target just before them negative ("Titanic was boring", "《泰坦尼克号》那种我不喜欢")
NEGATION_AFTER: tuple[str, ...] = (
    "was boring", "is boring", "was awful", "is awful", "was terrible", "was bad", "sucked", "sucks",
    "was overrated", "is overrated", "bored me", "not for me", "i hated", "i didn't like", "i did not like",
    "was too long", "was way too long", "was too slow", "dragged on", "not my thing", "not really my thing",
    "not my cup of tea", "not my type",
    "无聊", "不好看", "难看", "我不喜欢", "不喜欢", "没意思", "太烂", "太长了",
)
SEEN_CUES: tuple[str, ...] = (
    "seen it", "seen that", "already seen", "have seen", "i've seen", "ive seen", "watched it", "already watched",
    "read it", "already read", "看过", "读过", "已经看了",
)
CLAUSE_BREAKS = r"(?:[.!?;,。！？；，、\n]|(?<!anything )(?<!everything )\bbut\b|\bthough\b|\bhowever\b|\balthough\b|\bwhereas\b|但是|但|不过|可是|而且)"

GREETINGS: tuple[str, ...] = (
    "hi", "hello", "hey", "hiya", "yo", "good morning", "good evening", "good afternoon", "howdy", "sup",
    "你好", "您好", "嗨", "哈喽", "早上好", "晚上好", "在吗",
)
# words that never carry a preference on their own (used to decide if a message says anything)
STOPWORDS: frozenset[str] = frozenset(["a", "an", "the", "and", "or", "but", "if", "then", "so", "to", "of", "in", "on", "at", "for", "with", "from", "by", "about", "as", "into", "like", "than", "too", "very", "just", "i", "me", "my", "mine", "we", "us", "our", "you", "your", "he", "she", "it", "its", "they", "them", "their", "this", "that", "these", "those", "there", "here", "is", "am", "are", "was", "were", "be", "been", "being", "do", "does", "did", "have", "has", "had", "can", "could", "would", "should", "will", "shall", "may", "might", "must", "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "all", "any", "some", "something", "anything", "everything", "nothing", "one", "ones", "please", "pls", "thanks", "thank", "ok", "okay", "yes", "yeah", "yep", "no", "nope", "nah", "meh", "hmm", "else", "different", "thing", "things", "sure", "maybe", "well", "hi", "hello", "hey", "want", "wanna", "need", "looking", "look", "find", "give", "show", "tell", "recommend", "recommendation", "recommendations", "suggest", "suggestion", "suggestions", "good", "great", "nice", "best", "new", "another", "other", "more", "less", "kind", "sort", "type", "watch", "read", "see", "movie", "movies", "film", "films", "book", "books", "novel", "novels", "tonight", "today", "now", "again", "also", "really", "quite", "bit", "lot", "lots", "get", "got", "go", "going", "let", "let's", "lets", "make", "made", "im", "i'm", "ive", "i've", "id", "i'd", "dont", "don't", "can't", "cant", "wont", "won't", "they're", "it's", "that's", "there's", "we're", "you're",
    "isn't", "aren't", "wasn't", "weren't", "doesn't", "didn't", "i'll", "we'll"])
# common English words: a title made only of these must be capitalised or quoted to count as a mention
COMMON_WORDS: frozenset[str] = STOPWORDS | frozenset(["up", "out", "down", "off", "over", "under", "again", "away", "back", "home", "house", "man", "men", "woman", "women", "girl", "girls", "boy", "boys", "life", "live", "love", "day", "days", "night", "time", "year", "years", "world", "way", "people", "family", "friend", "friends", "old", "young", "big", "little", "small", "good", "bad", "best", "better", "last", "first", "second", "third", "next", "end", "beginning", "story", "stories", "war", "peace", "king", "queen", "father", "mother", "son", "daughter", "brother", "sister", "child", "children", "heart", "mind", "eye", "eyes", "hand", "face", "head", "fire", "water", "city", "town", "road", "room", "school", "game", "games", "play", "player", "star", "stars", "sun", "moon", "sky", "light", "dark", "black", "white", "red", "blue", "green", "gold", "money", "power", "death", "dead", "alive", "run", "walk", "talk", "look", "call", "help", "come", "came", "take", "took", "give", "gave", "keep", "kept", "leave", "left", "right", "true", "real", "little", "long", "short", "high", "low", "far", "near", "open", "close", "city", "country", "party", "get", "out", "her", "him", "us", "them", "it", "up", "she", "his", "go", "big", "fun", "happy", "sad", "free", "wild", "crazy", "perfect", "beautiful"])

# sentiment words that are also single-word titles in big catalogs ("Loved", "Fun")
SENTIMENT_WORDS: frozenset[str] = frozenset(["love", "loved", "loves", "loving", "like", "liked", "likes", "enjoy", "enjoyed", "enjoying", "adore", "adored", "favorite", "favourite", "fav", "hate", "hated", "hates", "dislike", "disliked", "awesome", "amazing", "fun", "funny", "great", "cool", "boring", "awful", "terrible", "brilliant", "beautiful", "interesting", "fantastic", "masterpiece", "classic", "classics", "obsessed", "epic", "sweet", "cute", "dark", "light"])
# one-word genre forms ("comedy", "scary", "disney")
GENRE_WORDS: frozenset[str] = frozenset(f for forms in GENRES.values() for f in forms if " " not in f)
NEGATION_WORDS: frozenset[str] = frozenset(c for c in NEGATION_BEFORE if " " not in c)  # "not", "never", "hate"
# words a one-word title must not be matched by unless it is capitalised or quoted
LEXICON_WORDS: frozenset[str] = (
    COMMON_WORDS | SENTIMENT_WORDS
    | GENRE_WORDS
    | frozenset(w for words in DOMAINS.values() for w in words)
    | NEGATION_WORDS
)


_GENRE_FORMS = sorted(((f, g) for g, forms in GENRES.items() for f in forms), key=lambda fg: -len(fg[0]))


def genres_named(text: str) -> set[str]:
    """Canonical genres whose surface forms appear in `text` ("funny" -> comedy, "科幻" -> sci-fi)."""
    lowered = text.lower()
    found = set()
    for form, genre in _GENRE_FORMS:
        pattern = re.escape(form) if HAN.search(form) else r"(?<![a-z-])" + re.escape(form) + r"(?![a-z-])"
        if re.search(pattern, lowered):
            found.add(genre)
            lowered = re.sub(pattern, " ", lowered)
    return found
