from oraclenet.gpu.target import choose

TARGET = choose()


def pytest_report_header(config):
    return f"gpu tests: {TARGET}"
