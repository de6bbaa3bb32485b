"""Payloads exactly as the protocols' own documentation shows them, written down by us as fixtures.

If a change breaks one of these, it breaks compatibility with the real devices. Topic roots are
moved under each test's own prefix with `localize` (the JSON itself is left as documented).

Sources:
- Home Assistant, integrations/mqtt (MQTT discovery: examples, device-based discovery, abbreviations),
  integrations/lawn_mower.mqtt and integrations/valve.mqtt.
- Tasmota docs: MQTT.md (command flow), Home-Assistant.md (Sonoff Pow ENERGY, DS18B20/DHT22),
  the openHAB JINJA transformation doc for an AM2301 payload.
- Zigbee2MQTT docs: usage/mqtt_topics_and_messages.md and usage/exposes.md; zigbee-herdsman-converters
  lib/exposes.ts for the exposes presets (soil_moisture, rain, water_leak, contact, battery).
"""

from __future__ import annotations

import json
from typing import Any


def localize(text: str, prefix: str, *roots: str) -> str:
    """Put every topic starting with one of `roots` under `prefix/` (JSON-escaped text or plain)."""
    for root in roots:
        text = text.replace(f'"{root}/', f'"{prefix}/{root}/')
    return text


# --- Home Assistant MQTT discovery -------------------------------------------------------------

HA_SWITCH_IRRIGATION_TOPIC = "homeassistant/switch/irrigation/config"
HA_SWITCH_IRRIGATION = (
    '{"name":"Irrigation","command_topic":"homeassistant/switch/irrigation/set",'
    '"state_topic":"homeassistant/switch/irrigation/state","unique_id":"irr01ad",'
    '"device":{"identifiers":["garden01ad"],"name":"Garden"}}'
)

HA_SWITCH_ABBREVIATED = '{"~":"homeassistant/switch/irrigation","name":"garden","cmd_t":"~/set","stat_t":"~/state"}'

HA_MOTION_TOPIC = "homeassistant/binary_sensor/garden/config"
HA_MOTION = (
    '{"name":null,"device_class":"motion","state_topic":"homeassistant/binary_sensor/garden/state",'
    '"unique_id":"motion01ad","device":{"identifiers":["01ad"],"name":"Garden"}}'
)

HA_BEDROOM_T_TOPIC = "homeassistant/sensor/sensorBedroomT/config"
HA_BEDROOM_T = (
    '{"device_class":"temperature","state_topic":"homeassistant/sensor/sensorBedroom/state",'
    '"unit_of_measurement":"°C","value_template":"{{ value_json.temperature}}","unique_id":"temp01ae",'
    '"device":{"identifiers":["bedroom01ae"],"name":"Bedroom","manufacturer":"Example sensors Ltd.",'
    '"model":"Example Sensor","model_id":"K9","serial_number":"12AE3010545","hw_version":"1.01a",'
    '"sw_version":"2024.1.0","configuration_url":"https://example.com/sensor_portal/config"}}'
)
HA_BEDROOM_H_TOPIC = "homeassistant/sensor/sensorBedroomH/config"
HA_BEDROOM_H = (
    '{"device_class":"humidity","state_topic":"homeassistant/sensor/sensorBedroom/state",'
    '"unit_of_measurement":"%","value_template":"{{ value_json.humidity}}","unique_id":"hum01ae",'
    '"device":{"identifiers":["bedroom01ae"]}}'
)
HA_BEDROOM_STATE = '{"temperature":23.20,"humidity":43.70}'

HA_KITCHEN_LIGHT_TOPIC = "homeassistant/light/kitchen/config"
HA_KITCHEN_LIGHT = (
    '{"~": "homeassistant/light/kitchen","name": "Kitchen","uniq_id": "kitchen_light",'
    '"cmd_t": "~/set","stat_t": "~/state","schema": "json","brightness": true}'
)
HA_KITCHEN_LIGHT_STATE = '{"state": "ON", "brightness": 255}'

HA_OBJECT_ID_TOPIC = "homeassistant/sensor/device1/config"
HA_OBJECT_ID = (
    '{"name":"My Super Device","object_id":"my_super_device","state_topic": "homeassistant/sensor/device1/state"}'
)

HA_DEVICE_TOPIC = "homeassistant/device/ea334450945afc/config"
_HA_DEVICE_HEAD = (
    '{"dev": {"ids": "ea334450945afc","name": "Kitchen","mf": "Bla electronics","mdl": "xya","sw": "1.0",'
    '"sn": "ea334450945afc","hw": "1.0rev2"},'
    '"o": {"name":"bla2mqtt","sw": "2.1","url": "https://bla2mqtt.example.com/support"},'
    '"cmps": {"some_unique_component_id1": {"p": "sensor","device_class":"temperature",'
    '"unit_of_measurement":"°C","value_template":"{{ value_json.temperature}}","unique_id":"temp01ae_t"},'
)
HA_DEVICE = (
    _HA_DEVICE_HEAD + '"some_unique_id2": {"p": "sensor","device_class":"humidity","unit_of_measurement":"%",'
    '"value_template":"{{ value_json.humidity}}","unique_id":"temp01ae_h"}},'
    '"state_topic":"sensorBedroom/state","qos": 2}'
)
HA_DEVICE_REMOVE_HUMIDITY = (
    _HA_DEVICE_HEAD + '"some_unique_id2": {"p": "sensor"}},"state_topic":"sensorBedroom/state","qos": 2}'
)

# lawn_mower.mqtt documentation example (its YAML written as the discovery JSON it stands for).
HA_MOWER_TOPIC = "homeassistant/lawn_mower/lawn_mower_plus/config"
HA_MOWER = json.dumps(
    {
        "name": "Lawn Mower Plus",
        "activity_state_topic": "lawn_mower_plus/state",
        "activity_value_template": "{{ value_json.activity }}",
        "pause_command_topic": "lawn_mower_plus/set",
        "pause_command_template": '{"activity": "{{ value }}"}',
        "dock_command_topic": "lawn_mower_plus/set",
        "dock_command_template": '{"activity": "{{ value }}"}',
        "start_mowing_command_topic": "lawn_mower_plus/set",
        "start_mowing_command_template": '{"activity": "{{ value }}"}',
    }
)

# valve.mqtt documentation: a valve by state words, and the JSON a position-reporting valve sends.
HA_VALVE_TOPIC = "homeassistant/valve/heater/config"
HA_VALVE = '{"command_topic": "heater/valve/set", "state_topic": "heater/valve/state"}'
HA_VALVE_POSITION_STATE = '{"state": "opening", "position": 10}'


# --- Tasmota -----------------------------------------------------------------------------------

TASMOTA_RESULT_OFF = '{"POWER":"OFF"}'
TASMOTA_RESULT_ON = '{"POWER":"ON"}'
TASMOTA_POW_SENSOR = (
    '{"Time":"2018-02-14T21:51:31","ENERGY":{"Total":0.984,"Yesterday":0.000,"Today":0.984,"Period":12,'
    '"Power":145,"Factor":0.90,"Voltage":220,"Current":0.731}}'
)
TASMOTA_DS18B20_SENSOR = '{"Time":"2017-02-16T10:13:52", "DS18B20":{"Temperature":20.6}}'
TASMOTA_AM2301_SENSOR = '{"Time":"2019-01-05T22:45:12","AM2301":{"Temperature":4.7,"Humidity":93.7},"TempUnit":"C"}'
TASMOTA_STATE_DEEPSLEEP = (
    '{"Time":"2019-09-04T13:08:48","Epoch":1567595328,"Uptime":"0T00:00:14","UptimeSec":14,"Heap":24,'
    '"SleepMode":"Dynamic","Sleep":50,"LoadAvg":20,"MqttCount":1,"Wifi":{"AP":1,"SSId":"MyWLAN",'
    '"BSSId":"AA:FF:AA:AA:AA:AA","Channel":11,"RSSI":100,"LinkCount":1,"Downtime":"0T00:00:08",'
    '"DeepSleep":300,"Heap":25160}}'
)


# --- Zigbee2MQTT -------------------------------------------------------------------------------

Z2M_CLIMATE_STATE = '{"temperature": 27.34, "humidity": 44.72}'
Z2M_SET_ON = '{"state": "ON"}'
Z2M_AVAILABILITY_ONLINE = '{"state":"online"}'
Z2M_SWITCH_EXPOSE: dict[str, Any] = {
    "type": "switch",
    "features": [
        {
            "type": "binary",
            "name": "state",
            "property": "state",
            "value_on": "ON",
            "value_off": "OFF",
            "value_toggle": "TOGGLE",
            "access": 7,
        }
    ],
}
Z2M_TEMPERATURE_EXPOSE = {
    "type": "numeric",
    "name": "temperature",
    "property": "temperature",
    "unit": "°C",
    "access": 1,
}
Z2M_SOIL_MOISTURE_EXPOSE = {
    "type": "numeric",
    "name": "soil_moisture",
    "property": "soil_moisture",
    "unit": "%",
    "access": 1,
    "description": "Measured soil moisture value",
}
Z2M_BATTERY_EXPOSE = {
    "type": "numeric",
    "name": "battery",
    "property": "battery",
    "unit": "%",
    "value_min": 0,
    "value_max": 100,
    "access": 1,
    "category": "diagnostic",
}
Z2M_RAIN_EXPOSE = {
    "type": "binary",
    "name": "rain",
    "property": "rain",
    "value_on": True,
    "value_off": False,
    "access": 1,
    "description": "Indicates whether the device detected rainfall",
}
Z2M_WATER_LEAK_EXPOSE = {
    "type": "binary",
    "name": "water_leak",
    "property": "water_leak",
    "value_on": True,
    "value_off": False,
    "access": 1,
    "description": "Indicates whether the device detected a water leak",
}
Z2M_CONTACT_EXPOSE = {
    "type": "binary",
    "name": "contact",
    "property": "contact",
    "value_on": False,
    "value_off": True,
    "access": 1,
    "description": "Indicates if the contact is closed (= true) or open (= false)",
}

# bridge/devices, trimmed to the fields a consumer reads, in the documented shape.
Z2M_PLUG_DEVICE: dict[str, Any] = {
    "ieee_address": "0x00158d00018255df",
    "type": "Router",
    "network_address": 29159,
    "supported": True,
    "friendly_name": "my_plug",
    "definition": {
        "model": "ZNCZ02LM",
        "vendor": "Xiaomi",
        "description": "Mi power plug ZigBee",
        "options": [],
        "exposes": [Z2M_SWITCH_EXPOSE],
    },
    "power_source": "Mains (single phase)",
    "interviewing": False,
    "interview_completed": True,
}
Z2M_UNSUPPORTED_DEVICE: dict[str, Any] = {
    "ieee_address": "0x00169a00022256da",
    "type": "Router",
    "network_address": 22160,
    "supported": False,
    "friendly_name": "my_sensor",
    "definition": None,
    "power_source": "Battery",
    "interviewing": False,
    "interview_completed": True,
}
Z2M_COORDINATOR: dict[str, Any] = {
    "ieee_address": "0x00124b00120144ae",
    "type": "Coordinator",
    "network_address": 0,
    "supported": False,
    "friendly_name": "Coordinator",
    "definition": None,
    "power_source": None,
    "interviewing": False,
    "interview_completed": True,
}
