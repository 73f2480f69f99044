"""The translation review of 2026-11 (issue 10, item 21) and the entries issue 10 changed,
as edits keyed by msgid, so they can be applied again after catalogs were merged:

    .venv/bin/aftersales catalog extract && .venv/bin/aftersales catalog update
    .venv/bin/python scripts/translation_review_2026_11.py

Reading and writing a catalog with Babel as here leaves every other entry byte for byte
as `catalog update` wrote it. Obsolete (#~) entries are dropped. A msgid that is no
longer in a catalog is reported, not guessed.
"""
import io
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

E = {}  # msgid -> {locale: str | list}
def e(msgid, **locs): E[msgid] = locs

# --- new / changed source entries
e("Please choose:", ru="Выберите вариант:", ka="აირჩიეთ:", zh_Hans="请选择：", zh_Hant="請選擇：")
e("Your message is too long for me (over %(count)d character). Please shorten it.",
  ru=["Ваше сообщение слишком длинное (более %(count)d символа). Пожалуйста, сократите его.",
      "Ваше сообщение слишком длинное (более %(count)d символов). Пожалуйста, сократите его.",
      "Ваше сообщение слишком длинное (более %(count)d символов). Пожалуйста, сократите его."],
  ka=["თქვენი შეტყობინება ძალიან გრძელია (%(count)d სიმბოლოზე მეტი). გთხოვთ, შეამოკლოთ."],
  zh_Hans=["您的消息太长了（超过 %(count)d 个字符），请精简一下。"],
  zh_Hant=["您的訊息太長了（超過 %(count)d 個字元），請縮短一些。"])
e("Your ticket:",
  ru=["Ваши последние заявки (%(count)d):"] * 3,
  ka=["თქვენი ბოლო მიმართვები (%(count)d):"],
  zh_Hans=["您最近的工单（%(count)d）："],
  zh_Hant=["您最近的服務單（%(count)d）："])
e("%(parts)s: warranty ended on %(date)s",
  ru="%(parts)s: гарантия истекла %(date)s",
  ka="%(parts)s: საგარანტიო ვადა ამოიწურა (ბოლო დღე: %(date)s)",
  zh_Hans="%(parts)s：保修已于 %(date)s 到期",
  zh_Hant="%(parts)s：保固已於 %(date)s 到期")
e("%(parts)s: not covered",
  ru="%(parts)s: гарантией не покрывается",
  ka="%(parts)s: გარანტია არ ვრცელდება",
  zh_Hans="%(parts)s：不在保修范围内",
  zh_Hant="%(parts)s：不在保固範圍內")
e("Out of warranty, parts are charged at cost and an on-site visit costs %(fee)s; help by phone stays free, and a part we replace carries %(count)d month of warranty. We never start paid work without your yes.",
  ru=[f"Вне гарантии запчасти оплачиваются по себестоимости, а выезд мастера стоит %(fee)s; консультация по телефону остаётся бесплатной, а на заменённую нами деталь даётся гарантия сроком %(count)d {w}. Платные работы мы никогда не начинаем без вашего согласия."
      for w in ("месяц", "месяца", "месяцев")],
  ka=["გარანტიის გარეშე ნაწილების საფასური თვითღირებულებით გამოითვლება, ტექნიკოსის ვიზიტი კი ღირს %(fee)s; ტელეფონით კონსულტაცია კვლავ უფასოა, ჩვენ მიერ შეცვლილ ნაწილზე კი %(count)d თვის გარანტია ვრცელდება. ფასიან სამუშაოს თქვენი თანხმობის გარეშე არასოდეს ვიწყებთ."],
  zh_Hans=["超出保修期后，配件按成本价收费，上门服务费为每次 %(fee)s；电话咨询仍然免费，我们更换的配件享有 %(count)d 个月保修。未经您同意，我们绝不会开始收费维修。"],
  zh_Hant=["超過保固期後，零件按成本價收費，到府服務費為每次 %(fee)s；電話諮詢仍然免費，我們更換的零件享有 %(count)d 個月保固。未經您同意，我們絕不會開始任何收費維修。"])

# --- review 2026-11, ka (13)
e("Your product (%(count)d):", ka=["თქვენი პროდუქტები (%(count)d):"],
  ru=["Ваши изделия (%(count)d):"] * 3)                                          # ka 1, ru 2
e("No products are registered to you yet.",
  ka="თქვენზე ჯერ არცერთი პროდუქტი არ არის დარეგისტრირებული.",                 # ka 2
  ru="На ваше имя пока не зарегистрировано ни одного изделия.")               # ru 5
e("To correct anything here, choose Talk to a person.",
  ka="თუ რაიმეს შესწორება გსურთ, აირჩიეთ „ოპერატორთან დაკავშირება“.")          # ka 3
e("bought %(date)s", ka="შეძენილია: %(date)s")                                  # ka 4
e("accepted %(date)s", ka="მიღება-ჩაბარება: %(date)s",                          # ka 5
  ru="принято в эксплуатацию %(date)s")                                         # ru 6
e("I cannot book visits automatically yet, so I have opened request %(number)s for a person, who will answer here. You can write which day suits you now.",
  ka="ვიზიტის ავტომატურად დაჯავშნა ჯერ არ შემიძლია, ამიტომ შევქმენი მიმართვა %(number)s — ოპერატორი აქვე გიპასუხებთ. ახლავე შეგიძლიათ მოგვწეროთ, რომელი დღე გაწყობთ.",  # ka 6
  ru="Автоматически оформлять вызов мастера я пока не умею, поэтому для вас открыта заявка %(number)s — оператор ответит вам здесь. Вы можете уже сейчас написать, какой день вам удобен.")  # ru 7
e("An engineer will call you to confirm the visit. You can follow it under My tickets.",
  ka="ტექნიკოსი დაგირეკავთ ვიზიტის დასადასტურებლად. მიმართვის სტატუსს შეგიძლიათ თვალი ადევნოთ მენიუში „ჩემი მიმართვები“.")  # ka 7
e("You can send photos, a video, a voice message or documents of the fault. Press Done when finished, or Skip.",
  ka="შეგიძლიათ გამოგვიგზავნოთ გაუმართაობის ამსახველი ფოტოები, ვიდეო, ხმოვანი შეტყობინება ან დოკუმენტები. როცა დაასრულებთ, დააჭირეთ ღილაკს „მზადაა“; თუ გასაგზავნი არაფერი გაქვთ — „გამოტოვება“.")  # ka 8
e("Choose what you need below. At any question you can press Back, Start over or Cancel, or type /back, /restart, /cancel. /language changes the language, /timezone your time zone.",
  ka="ქვემოთ აირჩიეთ, რაც გჭირდებათ. ნებისმიერ კითხვაზე შეგიძლიათ დააჭიროთ „უკან“, „თავიდან დაწყება“ ან „გაუქმება“, ან აკრიფოთ /back, /restart, /cancel. /language ცვლის ენას, /timezone — სასაათო სარტყელს.",  # ka 9
  ru="Выберите нужный пункт ниже. На любом шаге можно нажать «Назад», «Начать заново» или «Отмена» либо ввести /back, /restart, /cancel. /language меняет язык, /timezone — часовой пояс.")  # ru 9
e("Warranty question", ka="შეკითხვა გარანტიის შესახებ")                          # ka 10
e("a person is on it", ka="ოპერატორი მუშაობს მიმართვაზე")                      # ka 11
e("I do not know the place “%(text)s”. Please type a bigger city near you, or choose below.",
  ka="ადგილი „%(text)s“ ჩემთვის უცნობია. გთხოვთ, ჩაწეროთ თქვენთან ახლოს მდებარე უფრო დიდი ქალაქი ან აირჩიოთ ქვემოთ.",  # ka 12
  zh_Hans="抱歉，未能识别地点“%(text)s”。请输入您附近较大的城市，或在下方选择。",  # zh_Hans 3
  zh_Hant="抱歉，無法辨識地點「%(text)s」。請輸入您附近較大的城市，或在下方選擇。")  # zh_Hant 3
e("Done: I will give you times for %(place)s. It is %(time)s there now.",
  ka="მზადაა! ამიერიდან დროს მიგითითებთ ამ სასაათო სარტყლის მიხედვით — %(place)s. იქ ახლა %(time)s-ია.",  # ka 13
  ru="Готово! Теперь я указываю время по часовому поясу «%(place)s». Там сейчас %(time)s.",  # ru 11
  zh_Hans="设置完成：今后我给出的时间均按%(place)s时间计算，当地现在是%(time)s。",  # zh_Hans 5
  zh_Hant="設定完成：之後我提供的時間均以%(place)s時間為準，當地現在是%(time)s。")  # zh_Hant 5

# --- review, ru (12; #4 is solved in the source: "Your ticket:" above)
e("I noted from your message:", ru="Указано в вашем сообщении:")                  # ru 1
e("Your ticket (%(count)d):", ru=["Ваши заявки (%(count)d):"] * 3)               # ru 3
e("🛠 Report a repair", ru="🛠 Оформить ремонт")                                # ru 8
e("Thank you. To send this with a repair request, please choose Report a repair first.",
  ru="Спасибо. Чтобы приложить это к заявке на ремонт, сначала выберите «Оформить ремонт».")  # ru 8 (the quote of the menu item)
e("Which time zone are you in? Choose it below or type your city. Until you tell me, I give times for %(place)s.",
  ru="В каком часовом поясе вы находитесь? Выберите его ниже или напишите свой город. Пока вы не ответили, я указываю время по часовому поясу «%(place)s».",  # ru 10
  ka="რომელ სასაათო სარტყელში ხართ? აირჩიეთ ქვემოთ ან ჩაწერეთ თქვენი ქალაქი. სანამ მეტყვით, დროს მიგითითებთ ამ სასაათო სარტყლის მიხედვით — %(place)s.",  # own, as ka 13
  zh_Hans="您在哪个时区？请在下方选择，或输入您所在的城市。在您告诉我之前，我给出的时间均按%(place)s时间计算。",  # own, as zh_Hans 5
  zh_Hant="您在哪個時區？請在下方選擇，或輸入您所在的城市。在您告訴我之前，我提供的時間均以%(place)s時間為準。")  # own, as zh_Hant 5
e("A fault caused by a natural disaster or an accident is not covered by the warranty.",
  ru="Неисправность, вызванная стихийным бедствием, аварией или случайным повреждением, гарантией не покрывается.",  # ru 12
  ka="სტიქიით ან უბედური შემთხვევით გამოწვეულ გაუმართაობაზე გარანტია არ ვრცელდება.")  # ka note

# --- review, zh_Hans (8) and zh_Hant (7)
e("Which phone number can the engineer call? Share your contact or type the number.",
  zh_Hans="工程师可以拨打哪个号码联系您？请发送您的手机号码，或直接输入号码。",   # zh_Hans 1 (without 点击按钮: the web chat has no phone button)
  zh_Hant="工程師可以撥打哪支電話聯絡您？請分享您的手機號碼，或直接輸入號碼。")  # own, same vagueness
e("I do not know the command /%(command)s. Here is what I can do:",
  zh_Hans="抱歉，无法识别指令 /%(command)s。我可以为您提供以下服务：",           # zh_Hans 2
  zh_Hant="抱歉，無法辨識指令 /%(command)s。我可以為您提供以下服務：")           # zh_Hant 2
e("Keep %(place)s", zh_Hans="继续使用：%(place)s", zh_Hant="繼續使用：%(place)s")  # zh_Hans 4, zh_Hant 4
e("Which product? Type its serial number (two letters and ten digits, on the rating plate and the warranty card).",
  zh_Hans="请问是哪个产品？请输入序列号（由两个字母和十位数字组成，可以在铭牌和保修卡上找到）。")  # zh_Hans 6
e("Which product? Choose one of yours, or type another serial number.",
  zh_Hans="请问是哪个产品？请从您的产品中选择，或输入其他序列号。")              # zh_Hans 7
e("This product is out of warranty: its warranty has ended.",
  zh_Hans="该产品已超出保修期。", zh_Hant="此產品已超過保固期。",               # zh_Hans 8, zh_Hant 6
  ru="Гарантийный срок этого изделия истёк.",                                   # own: the same tautology
  ka="ამ პროდუქტის საგარანტიო ვადა ამოიწურა.")                                  # own: the same tautology
e("Which day suits you for the visit?", zh_Hant="您希望工程師哪一天到府服務？")   # zh_Hant 1
e("Done: I will write to you in English from now on.", zh_Hant="設定完成：接下來我會以繁體中文為您服務。")  # zh_Hant 7

# --- own review pass: one term per concept, notes taken up
e("A person will contact you by %(time)s.", zh_Hant="專人將在 %(time)s 前與您聯絡。")  # TW 聯絡 (note)
e("A person will contact you, and we will check with you that it was resolved.",
  zh_Hant="將由專人與您聯絡，之後也會向您確認問題是否已解決。",                  # TW 聯絡 (note)
  ru="С вами свяжется оператор, а затем мы уточним у вас, решён ли вопрос.",     # person = оператор everywhere
  ka="ოპერატორი დაგიკავშირდებათ, შემდეგ კი თქვენთან გადავამოწმებთ, მოგვარდა თუ არა საკითხი.")  # person = ოპერატორი
e("I have asked a person to take over: your request is %(number)s. Write your question here; they will answer in this chat.",
  ru="Оператор подключится к разговору, номер вашей заявки — %(number)s. Напишите свой вопрос здесь: вам ответят в этом чате.")  # ticket = заявка only
e("Connection lost. Reconnecting…", ru="Соединение потеряно. Повторное подключение…")  # note
e("Warranty of %(product)s, serial %(serial)s:", ru="Гарантия на изделие «%(product)s», серийный номер %(serial)s:")  # note
e("That does not look like a valid phone number. Please include the country code, e.g. %(example)s.",
  zh_Hans="这似乎不是有效的电话号码。请加上国际区号，例如 %(example)s。")        # note: 国际区号

def main(root: Path) -> int:
    missing = set(E)
    for loc in ("ka", "ru", "zh_Hans", "zh_Hant"):
        path = root / "locales" / loc / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as fp:
            cat = read_po(fp, locale=loc)
        for msgid, locs in E.items():
            m = cat.get(msgid)
            if loc not in locs or m is None:
                continue
            new = locs[loc]
            m.string = tuple(new) if isinstance(new, list) else new
            m.flags.discard("fuzzy")
            m.previous_id = []
            missing.discard(msgid)
        cat.obsolete.clear()
        out = io.BytesIO()
        write_po(out, cat, width=0, include_previous=False)
        path.write_bytes(out.getvalue())
    for msgid in sorted(missing):
        print(f"not in the catalogs (changed in the source?): {msgid!r}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(Path(__file__).resolve().parent.parent))
