from fhirserver.cli import main

main()
