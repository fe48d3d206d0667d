"""The benchmark's floor: a Flask app that answers every POST with one fixed TwiML document.

`python -m ivr bench` serves it with the very same gunicorn command as the line, so the gap
between the two is what the line's own work costs. The document is about the size of a menu.
"""
from flask import Flask, Response
from twilio.twiml.voice_response import VoiceResponse


def _menu_sized_twiml() -> str:
    # Built once, with VoiceResponse like every TwiML of the project; then answered as a string.
    response = VoiceResponse()
    gather = response.gather(action="/voice/fr/key", method="POST", input="dtmf", num_digits=1, timeout=6,
                             finish_on_key="", action_on_empty_result=False)
    for text in ("Menu principal.", "Pour une urgence, appuyez sur 1.",
                 "Pour les violences dans le couple, appuyez sur 2.",
                 "Pour un soutien psychologique, ou si vous pensez au suicide, appuyez sur 3.",
                 "Pour les violences sexuelles, appuyez sur 4.",
                 "Pour les enfants, les jeunes et l'école, appuyez sur 5.",
                 "Pour l'aide aux victimes et la police, appuyez sur 6."):
        gather.say(text, voice="Polly.Isabelle-Neural", language="fr-BE")
    response.redirect("/voice/fr/node?n=1", method="POST")
    return str(response)


TWIML = _menu_sized_twiml()


def create_floor() -> Flask:
    app = Flask(__name__)

    @app.post("/", defaults={"path": ""})
    @app.post("/<path:path>")
    def fixed(path):
        return Response(TWIML, mimetype="text/xml")

    return app
