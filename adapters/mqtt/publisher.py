"""Publish the daemon's state to MQTT with Home Assistant discovery (aiomqtt 2.x)."""
