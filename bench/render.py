"""Fill a bench template: replace @NAME@ placeholders with values.

usage: python3 render.py TEMPLATE OUT NAME=VALUE NAME=@FILE ...

A value given as @FILE is read from that file. A multi-line value keeps the
indentation of the line its placeholder sits on, so a PEM key or a block of
generated routes lands correctly inside YAML.
"""
import re
import sys


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    template, out = argv[1], argv[2]
    values = {}
    for arg in argv[3:]:
        name, _, value = arg.partition("=")
        if value.startswith("@"):
            with open(value[1:]) as f:
                value = f.read().rstrip("\n")
        values[name] = value

    def fill(line):
        indent = re.match(r"\s*", line).group(0)

        def one(m):
            if m.group(1) not in values:
                sys.exit("render.py: %s: no value for @%s@" % (template, m.group(1)))
            return values[m.group(1)].replace("\n", "\n" + indent)
        return re.sub(r"@([A-Z0-9_]+)@", one, line)

    with open(template) as f:
        text = "".join(fill(line) for line in f)
    with open(out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main(sys.argv)
