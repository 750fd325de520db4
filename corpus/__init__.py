"""The corpora that measure the judge (`oraclenet separation`): implementations that are
correct but for roundoff, in every order, precision and split they may use, and ones with a
bug planted on purpose, family by family. Test-only variants: nothing in the other rooms
uses them."""
