"""Reading and writing the files of exports and imports: zip safety, Anki packages, CSV, Resee bundles.

No Django models here: readers turn a file into learning's ``LearningImport`` (and what else the file
held), writers turn exported records into a file.
"""
