"""Stand-in for ``board`` of an Adafruit MatrixPortal S3: the HUB75 pin names."""

MTX_ADDRESS = ("MTX_ADDRA", "MTX_ADDRB", "MTX_ADDRC", "MTX_ADDRD", "MTX_ADDRE")
MTX_COLOR = ("MTX_R1", "MTX_G1", "MTX_B1", "MTX_R2", "MTX_G2", "MTX_B2")
MTX_CLK = "MTX_CLK"
MTX_LAT = "MTX_LAT"
MTX_OE = "MTX_OE"
