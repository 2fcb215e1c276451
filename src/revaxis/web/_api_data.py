"""Placeholder: routes are added here."""

from fastapi import APIRouter

router = APIRouter()
