INPUT_SCHEMA = {
    "prompt": {
        "datatype": "STRING",
        "required": True,
        "shape": [1],
        "example": ["There is a fine house in the forest"],
    },
    "upper": {"datatype": "BOOL", "required": False, "shape": [1], "example": [True]},
    "pause_ms": {"datatype": "INT32", "required": False, "shape": [1], "example": [50]},
}
IS_STREAMING_OUTPUT = True
