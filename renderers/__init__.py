"""Turns an inventory snapshot into pictures and text; sees only bot.model."""
