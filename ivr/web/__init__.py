"""The web: Twilio's webhooks in, TwiML out (views), their parameters and signatures (request,
signature), answers kept for identical requests (answers), and recorded prompts (media)."""
