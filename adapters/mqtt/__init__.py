"""MQTT: retained state, harvest events and Home Assistant discovery (aiomqtt 2.x)."""
