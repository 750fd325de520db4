from oraclenet.gpu.target import choose

TARGET = choose()  # for the --gpu trainers' tests


def pytest_report_header(config):
    return f"gpu trainers: {TARGET}"
