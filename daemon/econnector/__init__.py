"""econnector: signs practice documents and delivers them to the patient eHealth vault."""

__version__ = "0.1.0"
